"""A real S3 API on 127.0.0.1 for tests (moto's server mode, from PyPI), with one bucket; yields fsspec options."""

from __future__ import annotations

import socket
from contextlib import contextmanager
from typing import Iterator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def s3_server(bucket: str) -> Iterator[dict]:
    """Options for `fsspec.filesystem("s3", **options)` / `storage.object_store_options`, the bucket created."""
    import fsspec
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        options = {"endpoint_url": f"http://127.0.0.1:{port}", "key": "test", "secret": "test"}
        fsspec.filesystem("s3", **options, skip_instance_cache=True).mkdir(bucket)
        yield options
    finally:
        server.stop()
