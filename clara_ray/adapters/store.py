"""Adapter store: PEFT adapter folders under a local directory or any fsspec URI (s3://, gs://, ...).

Layout: `<root>/<name>/<version_id>/{adapter_config.json, adapter_model.safetensors, ...}`.
A version's folder is written once and never changed (vLLM and peft cache by path).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import fsspec

from clara_ray.adapters.registry import InvalidReference
from clara_ray.names import InvalidName, NameKind, check_name
from clara_ray.training.spec import check_adapter_name


class AdapterStore:
    def __init__(self, root_uri: str):
        self.root_uri = root_uri.rstrip("/")
        self.fs, self.root = fsspec.core.url_to_fs(self.root_uri)
        self.is_local = self.fs.protocol in ("file", "local") or "file" in (self.fs.protocol or ())

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
        _, dest = fsspec.core.url_to_fs(uri)
        if self.is_local:
            tmp = Path(dest + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(local_dir, tmp)
            tmp.rename(dest)  # atomic: readers never see half a version
        else:
            self.fs.put(str(local_dir).rstrip("/") + "/", dest, recursive=True)
        return uri

    def local_path(self, uri: str, cache_dir: Path) -> Path:
        """A local folder with the adapter's files: the folder itself when local, else a cached download."""
        fs, path = fsspec.core.url_to_fs(uri)
        if fs.protocol in ("file", "local") or "file" in (fs.protocol or ()):
            return Path(path)
        target = Path(cache_dir) / hashlib.sha256(uri.encode()).hexdigest()[:24]
        if not (target / "adapter_config.json").is_file():
            tmp = target.with_suffix(".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            fs.get(path.rstrip("/") + "/", str(tmp), recursive=True)
            tmp.rename(target)
        return target

    def delete(self, uri: str) -> None:
        fs, path = fsspec.core.url_to_fs(uri)
        if fs.exists(path):
            fs.rm(path, recursive=True)
