"""Reading and writing dataset files in a local folder or any pyarrow filesystem URI (s3://, gs://, file://)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import BinaryIO, Iterator


def is_uri(location: str) -> bool:
    return "://" in location


def join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *parts]) if is_uri(base) else str(Path(base, *parts))


@contextlib.contextmanager
def open_write(location: str) -> Iterator[BinaryIO]:
    if is_uri(location):
        from pyarrow import fs

        filesystem, path = fs.FileSystem.from_uri(location)
        filesystem.create_dir(path.rsplit("/", 1)[0], recursive=True)
        with filesystem.open_output_stream(path) as f:
            yield f
    else:
        Path(location).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(location + ".part")
        with open(tmp, "wb") as f:
            yield f
        tmp.replace(location)  # readers never see a half-written file


@contextlib.contextmanager
def open_read(location: str) -> Iterator[BinaryIO]:
    if is_uri(location):
        from pyarrow import fs

        filesystem, path = fs.FileSystem.from_uri(location)
        with filesystem.open_input_stream(path) as f:
            yield f
    else:
        with open(location, "rb") as f:
            yield f
