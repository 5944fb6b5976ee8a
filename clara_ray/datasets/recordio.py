"""Dataset record files: write/read JSONL (the stored format) and parse uploaded JSONL/JSON/CSV/Parquet files."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Iterator

from clara_ray.data.records import RecordError, normalise
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


def parse_upload(filename: str, content: bytes) -> tuple[list[dict], list[str]]:
    """Records of an uploaded file and the reasons rows were dropped. Invalid UTF-8 bytes become U+FFFD (flagged by analyze)."""
    suffix = Path(filename or "").suffix.lower()
    rows: list[dict] = []
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
