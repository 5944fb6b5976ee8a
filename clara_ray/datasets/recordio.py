"""Whole-file record I/O: write/read JSONL (the stored format), read or parse JSONL/JSON/CSV/Parquet files (uploads,
evaluation sets). Streaming reads through Ray Data are in readers.py."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Iterator

from clara_ray.records import RecordError, normalise
from clara_ray.datasets.errors import DatasetInputError
from clara_ray.datasets.storage import open_read, open_write


def write_jsonl(location: str, records: list[dict]) -> int:
    """Write records, one JSON object per line; returns bytes written. Lone surrogates stay escaped."""
    data = "".join(json.dumps(r, ensure_ascii=True, default=str) + "\n" for r in records).encode("ascii")
    with open_write(location) as f:
        f.write(data)
    return len(data)


def read_jsonl(location: str) -> Iterator[dict]:
    with open_read(location) as f:
        for line in io.TextIOWrapper(f, encoding="utf-8", errors="replace"):
            if line.strip():
                yield json.loads(line)


def _clean(v):
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def read_rows(location: str) -> list[dict]:
    """Every row of a JSONL / JSON / CSV / Parquet file, local or any URI (evaluation sets, registered datasets).

    Empty CSV/Parquet cells are absent keys; DatasetInputError names an unreadable file."""
    with open_read(location) as f:
        content = f.read()
    rows, problems = parse_rows(Path(location.split("?")[0]).suffix.lower(), content)
    if problems and not rows:
        raise DatasetInputError(f"{location}: {problems[0]}", "file")
    return [{k: c for k, v in r.items() if (c := _clean(v)) is not None} for r in rows if isinstance(r, dict)]


def parse_rows(suffix: str, content: bytes) -> tuple[list, list[str]]:
    """Raw rows of a file's bytes by its suffix, and the lines that were not valid JSON."""
    rows: list = []
    problems: list[str] = []
    if suffix in (".jsonl", ".json"):
        text = content.decode("utf-8", errors="replace")
        stripped = text.lstrip()
        if suffix == ".json" and stripped.startswith("["):
            try:
                data = json.loads(text)
            except json.JSONDecodeError as e:
                raise DatasetInputError(f"file is not valid JSON ({e.msg} at line {e.lineno})", "file") from None
            rows = [r for r in data] if isinstance(data, list) else []
        else:
            for n, line in enumerate(text.splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    problems.append(f"line {n}: invalid JSON ({e.msg})")
    elif suffix == ".csv":
        import pyarrow.csv as pacsv

        try:
            rows = pacsv.read_csv(io.BytesIO(content),  # empty cells are missing values, not ""
                                  convert_options=pacsv.ConvertOptions(strings_can_be_null=True)).to_pylist()
        except Exception as e:  # noqa: BLE001 - pyarrow raises ArrowInvalid and friends
            raise DatasetInputError(f"file is not a readable CSV: {e}", "file") from None
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            rows = pq.read_table(io.BytesIO(content)).to_pylist()
        except Exception as e:  # noqa: BLE001
            raise DatasetInputError(f"file is not a readable Parquet file: {e}", "file") from None
    else:
        raise DatasetInputError(f"unsupported file type {suffix or '(none)'!r}: use .jsonl, .json, .csv or .parquet",
                                "file")
    return rows, problems


def parse_upload(filename: str, content: bytes) -> tuple[list[dict], list[str]]:
    """Records of an uploaded file and the reasons rows were dropped. Invalid UTF-8 bytes become U+FFFD (flagged by analyze)."""
    rows, problems = parse_rows(Path(filename or "").suffix.lower(), content)
    records = []
    for i, r in enumerate(rows, 1):
        if not isinstance(r, dict):
            problems.append(f"record {i}: not an object")
            continue
        r = {k: c for k, v in r.items() if (c := _clean(v)) is not None}  # empty CSV/Parquet cells
        try:
            normalise(r)
        except RecordError as e:
            problems.append(f"record {i}: {e}")
            continue
        records.append(r)
    if not records:
        detail = "; ".join(problems[:3]) or "the file is empty"
        raise DatasetInputError(f"no valid records in {filename!r} ({detail})", "file")
    return records, problems
