"""Deploy version of a detached actor: a hash of the code it runs (clara_ray/, actors/) and the settings it got."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

import actors
import clara_ray

CODE_PACKAGES = (Path(clara_ray.__file__).parent, Path(actors.__file__).parent)


@lru_cache(maxsize=1)
def code_version() -> str:
    """sha256 over the relative path and bytes of every Python source file of the packages actors run."""
    h = hashlib.sha256()
    for pkg in CODE_PACKAGES:
        for path in sorted(pkg.rglob("*.py")):
            h.update(f"{pkg.name}/{path.relative_to(pkg).as_posix()}\0".encode())
            h.update(path.read_bytes())
            h.update(b"\0")
    return h.hexdigest()


def settings_version(settings: dict) -> str:
    """sha256 of the settings' canonical JSON (sorted keys), as the actor receives them."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


def deploy_version(settings: dict) -> str:
    """`code-<12 hex>.settings-<12 hex>`: equal only when both the code and the settings are equal."""
    return f"code-{code_version()[:12]}.settings-{settings_version(settings)[:12]}"
