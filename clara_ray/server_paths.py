"""Server-side paths a client may name (training data, corpus ingest, adapter import, dataset export): allowed
only under configured roots, checked after symlinks are resolved.

Root entries (config lists such as `training.data_roots`) are absolute folders, URI prefixes (`s3://bucket/data`)
or entries starting with a placeholder: `{data_dir}` (storage.data_dir), `{project}` (storage.project_dir) or
`{resources}` (the bundled corpus folder, `{project}/clara_ray/resources/corpus`). Relative entries, and relative
paths sent by clients, resolve against storage.project_dir: by default PROJECT_DIR, the folder holding the
`clara_ray` package in the process that loaded the settings (the repository root in a checkout), fixed at load so
that Ray actors running from a working-dir copy agree with their driver; never the process's working directory.

A path outside every root is `PathOutsideRoots` (HTTP 403); its message names the request field and the setting,
never the resolved server path.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

PROJECT_DIR = Path(__file__).resolve().parent.parent
RESOURCES_SUBDIR = Path("clara_ray") / "resources" / "corpus"
PLACEHOLDERS = ("{data_dir}", "{resources}", "{project}")


class PathOutsideRoots(Exception):
    """A client-named server path lies outside the configured roots (HTTP 403). `param`: the request field."""

    def __init__(self, field: str, setting: str):
        super().__init__(f"{field}: outside the folders this server may read or write ({setting}); "
                         f"an administrator can add a folder to {setting}")
        self.param = field
        self.setting = setting


class InvalidPath(ValueError):
    """A client-named path is malformed (control characters, a `file://` URI with a host) (HTTP 422)."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.param = field


def check_root_entry(entry: str) -> str:
    """Validate one configured root entry (at config load); returns it unchanged. Raises ValueError."""
    if not entry or not entry.strip():
        raise ValueError("root entries must not be empty")
    if entry.startswith("{") and not entry.startswith(PLACEHOLDERS):
        raise ValueError(f"unknown placeholder in {entry!r}; use one of {', '.join(PLACEHOLDERS)}")
    return entry


def _absolute(value: str, base: Path) -> Path:
    p = Path(value)
    return (p if p.is_absolute() else base / p).resolve()


def _file_uri_path(value: str) -> str | None:
    """The local path of a `file://` URI (None if `value` is another kind of URI)."""
    scheme, _, rest = value.partition("://")
    if scheme.lower() != "file":
        return None
    host, slash, path = rest.partition("/")
    if host not in ("", "localhost"):
        raise ValueError("file:// URIs must not name a host")
    return slash + path


@dataclass(frozen=True)
class Roots:
    """The allowed folders and URI prefixes of one setting (e.g. `training.data_roots`)."""

    setting: str
    folders: tuple[Path, ...]
    prefixes: tuple[str, ...] = ()
    base: Path = PROJECT_DIR
    """Where relative client paths resolve (storage.project_dir)."""

    @classmethod
    def from_config(cls, entries: Iterable[str], *, setting: str, data_dir: Path | str,
                    project_dir: Path | str | None = None) -> "Roots":
        base = Path(project_dir or PROJECT_DIR).resolve()
        subst = {"{data_dir}": str(data_dir), "{resources}": str(base / RESOURCES_SUBDIR), "{project}": str(base)}
        folders, prefixes = [], []
        for entry in entries:
            for key, val in subst.items():
                if entry.startswith(key):
                    entry = val + entry[len(key):]
            local = _file_uri_path(entry) if "://" in entry else entry
            if local is None:
                prefixes.append(entry.rstrip("/") + "/")
            else:
                folders.append(_absolute(local, base))
        return cls(setting, tuple(folders), tuple(prefixes), base)

    def contains(self, path: Path) -> bool:
        return any(path == r or path.is_relative_to(r) for r in self.folders)

    def check(self, value: str, field: str, *, walk: bool = True) -> str:
        """The location to use (an absolute resolved path, or the URI) when `value` is under a root; else
        PathOutsideRoots. `walk`: for a folder, every file below it must resolve under a root too (symlinks)."""
        if any(unicodedata.category(c) == "Cc" for c in value):
            raise InvalidPath(field, "must not contain control characters (newline, NUL, ...)")
        if "://" in value:
            try:
                local = _file_uri_path(value)
            except ValueError as e:
                raise InvalidPath(field, str(e)) from None
            if local is None:
                scheme, _, rest = value.partition("://")
                if ".." in rest.split("/") or not any(value.startswith(p) for p in self.prefixes):
                    raise PathOutsideRoots(field, self.setting)
                return value
            value = local
        try:
            path = _absolute(value, self.base)
        except (OSError, RuntimeError):  # a symlink loop
            raise InvalidPath(field, "cannot be resolved (a symlink loop?)") from None
        if not self.contains(path):
            raise PathOutsideRoots(field, self.setting)
        if walk and path.is_dir():
            for f in path.rglob("*"):
                if (f.is_symlink() or f.is_file()) and not self.contains(f.resolve()):
                    raise PathOutsideRoots(field, self.setting)
        return str(path)

    def check_all(self, values: Iterable[str], field: str, *, walk: bool = True) -> list[str]:
        """`check` per entry of a list field; errors name the entry (`data_paths.1`)."""
        return [self.check(v, f"{field}.{i}", walk=walk) for i, v in enumerate(values)]
