"""Reading input files, for corpus ingest and training data alike: expand files/folders by kind and read them as
payload rows (`path`, `kind` "json" or "text", `payload`), with Ray Data or in-process.

JSONL is read as lines and Parquet/CSV rows become JSON text, so a broken line is one rejected row and every
consumer parses one shape. Whole-file readers for uploads and evaluation are in recordio.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from clara_ray.datasets.errors import DatasetInputError

KINDS = {".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet", ".csv": "csv", ".txt": "text", ".md": "text"}


def expand_paths(paths: list[str], text_bases: dict | None = None) -> dict[str, list[str]]:
    """Files by kind; folders are searched recursively for supported files. DatasetInputError names bad paths.

    `text_bases` (filled in): text file -> the folder given (its id is the path below it), or its own folder."""
    if not paths:
        raise DatasetInputError("no input paths given", "paths")
    out: dict[str, list[str]] = {}
    bases = text_bases if text_bases is not None else {}
    for p in paths:
        path = Path(p).expanduser()
        if "://" in p:
            files, base = [p], ""
        elif path.is_dir():
            files = sorted(str(f.resolve()) for f in path.rglob("*") if f.is_file() and f.suffix.lower() in KINDS)
            base = str(path.resolve())
            if not files:
                raise DatasetInputError(f"{p}: folder holds no .jsonl/.json/.parquet/.csv/.txt/.md files", "paths")
        elif path.is_file():
            files, base = [str(path.resolve())], str(path.resolve().parent)
        else:
            raise DatasetInputError(f"{p}: no such file or folder", "paths")
        for f in files:
            bases.setdefault(f, base)
            kind = KINDS.get(Path(f.split("?")[0]).suffix.lower())
            if kind is None:
                raise DatasetInputError(f"{p}: unsupported file type (use .jsonl, .json, .parquet, .csv, .txt, .md)",
                                        "paths")  # the path as given, not the resolved server path
            out.setdefault(kind, []).append(f)
    return out


def payloads_local(files: dict[str, list[str]]):
    """Yield payload batches without Ray (same shape as the Ray readers produce)."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    for kind, paths in files.items():
        for p in paths:
            if kind == "jsonl":
                with open(p, encoding="utf-8", errors="replace") as f:
                    lines = f.read().splitlines()
                yield {"path": [p] * len(lines), "kind": ["json"] * len(lines), "payload": lines}
            elif kind == "text":
                with open(p, "rb") as f:
                    yield {"path": [p], "kind": ["text"], "payload": [f.read().decode("utf-8", errors="replace")]}
            else:
                table = pq.read_table(p) if kind == "parquet" else pacsv.read_csv(p)
                rows = table.to_pylist()
                yield {"path": [p] * len(rows), "kind": ["json"] * len(rows),
                       "payload": [json.dumps(r, default=str, ensure_ascii=False) for r in rows]}


def _rows_to_payload(batch: dict) -> dict:
    # Parquet/CSV rows from Ray Data -> one JSON payload per row.
    cols = [c for c in batch if c != "path"]
    n = len(batch["path"])
    payload = [json.dumps({c: _plain(batch[c][i]) for c in cols}, default=str, ensure_ascii=False) for i in range(n)]
    return {"path": np.asarray(batch["path"], dtype=object), "kind": np.asarray(["json"] * n, dtype=object),
            "payload": np.asarray(payload, dtype=object)}


def _lines_to_payload(batch: dict) -> dict:
    n = len(batch["path"])
    return {"path": batch["path"], "kind": np.asarray(["json"] * n, dtype=object), "payload": batch["text"]}


def _bytes_to_payload(batch: dict) -> dict:
    n = len(batch["path"])
    texts = [bytes(b).decode("utf-8", errors="replace") for b in batch["bytes"]]
    return {"path": batch["path"], "kind": np.asarray(["text"] * n, dtype=object),
            "payload": np.asarray(texts, dtype=object)}


def _plain(v):
    # Parquet/CSV cells arrive as numpy scalars, numpy arrays (list columns such as chat `messages`), dicts or NaN.
    if isinstance(v, float) and v != v:
        return None
    if isinstance(v, np.ndarray):
        return [_plain(x) for x in v.tolist()] if v.dtype != object else [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v.item() if hasattr(v, "item") else v


def ray_dataset(files: dict[str, list[str]], cpus: float, blocks: int | None = None):
    """One Ray Dataset of payload rows over every input file (`blocks`: override Ray Data's block count)."""
    import ray.data

    parts = []
    for kind, paths in files.items():
        if kind == "jsonl":
            ds = ray.data.read_text(paths, include_paths=True, num_cpus=cpus, override_num_blocks=blocks)
            parts.append(ds.map_batches(_lines_to_payload, batch_format="numpy", num_cpus=cpus))
        elif kind == "text":
            ds = ray.data.read_binary_files(paths, include_paths=True, num_cpus=cpus, override_num_blocks=blocks)
            parts.append(ds.map_batches(_bytes_to_payload, batch_format="numpy", num_cpus=cpus))
        else:
            reader = ray.data.read_parquet if kind == "parquet" else ray.data.read_csv
            parts.append(reader(paths, include_paths=True, num_cpus=cpus, override_num_blocks=blocks)
                         .map_batches(_rows_to_payload, batch_format="numpy", num_cpus=cpus))
    return parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]
