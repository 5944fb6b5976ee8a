"""Adapter store: PEFT adapter folders under a local directory or any fsspec URI (s3://, gs://, ...).

Layout: `<root>/<name>/<version_id>/{adapter_config.json, adapter_model.safetensors, ...}`.
A version's folder is written once and never changed (vLLM and peft cache by path). Remote reads, writes and
deletes are retried with exponential backoff (tenacity): object stores fail transiently under load.
"""

from __future__ import annotations

import hashlib
import shutil
import uuid
from pathlib import Path
from typing import Any, Callable, TypeVar

import fsspec
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from clara_ray.adapters.registry import InvalidReference
from clara_ray.names import InvalidName, NameKind, check_name
from clara_ray.training.spec import check_adapter_name

T = TypeVar("T")


_PERMANENT = (FileNotFoundError, PermissionError, NotADirectoryError, IsADirectoryError, FileExistsError)
_CLIENT_LIBRARIES = ("botocore", "aiobotocore", "aiohttp", "google", "requests", "urllib3")


def transient(e: BaseException) -> bool:
    """Worth another try: I/O, connection and timeout errors, and the object-store clients' own (botocore's
    EndpointConnectionError is no OSError); never a missing file or a refused permission."""
    if isinstance(e, _PERMANENT):
        return False
    return isinstance(e, (OSError, TimeoutError)) or type(e).__module__.split(".")[0] in _CLIENT_LIBRARIES


def _is_local(fs) -> bool:
    return fs.protocol in ("file", "local") or "file" in (fs.protocol or ())


class AdapterStore:
    def __init__(self, root_uri: str, options: dict[str, Any] | None = None, retries: int = 4):
        """`options`: fsspec options of a remote store (`storage.object_store_options`); `retries`: attempts per
        remote operation."""
        self.root_uri = root_uri.rstrip("/")
        self.options = dict(options or {})
        self.retries = retries
        self.fs, self.root = self._fs(self.root_uri)
        self.is_local = _is_local(self.fs)

    @classmethod
    def for_storage(cls, storage) -> "AdapterStore":
        """The store `storage` (StorageSettings) configures: URI, fsspec options and retries."""
        return cls(storage.adapter_store_uri, storage.object_store_options, storage.object_store_retries)

    def _fs(self, uri: str):
        """(filesystem, path) of `uri`; the options apply to remote URIs only (a local path takes none)."""
        if "://" not in uri or uri.startswith("file://"):
            return fsspec.core.url_to_fs(uri)
        return fsspec.core.url_to_fs(uri, **self.options)

    def _remote(self, what: Callable[[], T]) -> T:
        """Run a remote operation, again on a transient error (connection, throttling, 5xx) with backoff."""
        for attempt in Retrying(stop=stop_after_attempt(self.retries), reraise=True,
                                wait=wait_exponential(multiplier=0.5, max=8), retry=retry_if_exception(transient)):
            with attempt:
                return what()
        raise AssertionError("unreachable")  # Retrying re-raises the last error

    def uri_for(self, name: str, version_id: str) -> str:
        """`<root>/<name>/<version_id>`; both parts are checked again here, as they become folders."""
        try:
            check_adapter_name(name)
            check_name(version_id, NameKind.PATH_PART)
        except InvalidName as e:
            raise InvalidReference(f"adapter folder name: {e}") from None
        return f"{self.root_uri}/{name}/{version_id}"

    def put(self, local_dir: Path, name: str, version_id: str) -> str:
        """Copy a local adapter folder into the store; returns its URI."""
        if not (Path(local_dir) / "adapter_config.json").is_file():
            raise FileNotFoundError("not a PEFT adapter folder (no adapter_config.json)")
        uri = self.uri_for(name, version_id)
        _, dest = self._fs(uri)
        if self.is_local:
            tmp = Path(dest + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(local_dir, tmp)
            tmp.rename(dest)  # atomic: readers never see half a version
        else:
            # Object stores have no rename; readers use the registry row, written only after this returns.
            self._remote(lambda: self.fs.put(str(local_dir).rstrip("/") + "/", dest, recursive=True))
        return uri

    def local_path(self, uri: str, cache_dir: Path) -> Path:
        """A local folder with the adapter's files: the folder itself when local, else a cached download."""
        fs, path = self._fs(uri)
        if _is_local(fs):
            return Path(path)
        target = Path(cache_dir) / hashlib.sha256(uri.encode()).hexdigest()[:24]
        if not (target / "adapter_config.json").is_file():
            # The cache may be a volume several replicas share: each downloads into a folder of its own and renames
            # it into place (atomic); a replica that loses the race keeps the winner's identical copy.
            tmp = target.with_name(f"{target.name}.{uuid.uuid4().hex[:8]}.tmp")

            def download() -> None:
                shutil.rmtree(tmp, ignore_errors=True)
                fs.get(path.rstrip("/") + "/", str(tmp), recursive=True)

            self._remote(download)
            try:
                tmp.rename(target)
            except OSError:
                if not (target / "adapter_config.json").is_file():
                    raise
                shutil.rmtree(tmp, ignore_errors=True)
        return target

    def delete(self, uri: str) -> None:
        fs, path = self._fs(uri)
        if _is_local(fs):
            if fs.exists(path):
                fs.rm(path, recursive=True)
            return
        self._remote(lambda: fs.rm(path, recursive=True) if fs.exists(path) else None)
