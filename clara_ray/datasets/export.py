"""Export a dataset version as JSONL, Parquet or CSV: streamed in pieces, or written to a store URI."""

from __future__ import annotations

import csv
import io
import json
from typing import Iterator

from clara_ray.datasets.storage import join, open_write

MEDIA_TYPES = {"jsonl": "application/x-ndjson", "parquet": "application/vnd.apache.parquet", "csv": "text/csv"}
ROWS_PER_PIECE = 1000


def _flat(v):
    # Nested values (chat `messages`, dicts) travel as JSON text in CSV/Parquet; records.py reads them back.
    if isinstance(v, (list, dict)):
        v = json.dumps(v, ensure_ascii=False)
    if isinstance(v, str):
        # Lone surrogates cannot be written as UTF-8: they become U+FFFD (still flagged invalid by analyze).
        v = v.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return v


def _columns(records: list[dict]) -> list[str]:
    cols: dict[str, None] = {}
    for r in records:
        cols.update(dict.fromkeys(r))
    return list(cols)


def stream(records: list[dict], fmt: str) -> Iterator[bytes]:
    """The file's bytes, piece by piece (about ROWS_PER_PIECE records each)."""
    if fmt == "jsonl":
        for i in range(0, len(records), ROWS_PER_PIECE):
            yield "".join(json.dumps(r, ensure_ascii=True) + "\n" for r in records[i:i + ROWS_PER_PIECE]).encode()
    elif fmt == "csv":
        cols = _columns(records)
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for i in range(0, len(records), ROWS_PER_PIECE):
            for r in records[i:i + ROWS_PER_PIECE]:
                w.writerow({k: _flat(v) for k, v in r.items()})
            yield buf.getvalue().encode()
            buf.seek(0)
            buf.truncate()
        if buf.getvalue():
            yield buf.getvalue().encode()
    elif fmt == "parquet":
        yield from _parquet_pieces(records)
    else:  # pragma: no cover - validated by the request schema
        raise ValueError(fmt)


class _Sink(io.RawIOBase):
    """A write-only file whose bytes are collected and handed out as pieces."""

    def __init__(self):
        self.pieces: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self.pieces.append(bytes(b))
        return len(b)

    def take(self) -> bytes:
        out, self.pieces = b"".join(self.pieces), []
        return out


def _parquet_pieces(records: list[dict]) -> Iterator[bytes]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = _columns(records)
    rows = [{c: _flat(r.get(c)) for c in cols} for r in records]
    schema = pa.Table.from_pylist(rows[:ROWS_PER_PIECE * 10]).schema if rows else pa.schema([])
    sink = _Sink()
    with pq.ParquetWriter(sink, schema) as writer:
        for i in range(0, len(rows), ROWS_PER_PIECE):
            writer.write_table(pa.Table.from_pylist(rows[i:i + ROWS_PER_PIECE], schema=schema))
            piece = sink.take()
            if piece:
                yield piece
    tail = sink.take()
    if tail:
        yield tail


def destination(dest: str, name: str, version: int, fmt: str) -> str:
    """A destination ending in a file name is used as is; otherwise it is a folder: <dest>/<name>-v<version>.<fmt>."""
    last = dest.rstrip("/").rsplit("/", 1)[-1]
    if last.endswith(f".{fmt}"):
        return dest
    return join(dest, f"{name}-v{version}.{fmt}")


def write(records: list[dict], fmt: str, location: str) -> int:
    size = 0
    with open_write(location) as f:
        for piece in stream(records, fmt):
            f.write(piece)
            size += len(piece)
    return size
