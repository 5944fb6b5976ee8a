"""The one rule for "was this adapter trained on (a copy of) this base model?", used at import, load and training."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

_HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")
ALIASES_HINT = "model.base_model_aliases"


def _norm(name: str) -> str:
    return name.strip().rstrip("/\\").casefold()


def _last(name: str) -> str:
    return re.split(r"[/\\]", _norm(name))[-1]


def _folder(name: str) -> Path | None:
    try:
        p = Path(name.strip()).expanduser()
        return p if p.is_dir() else None
    except (OSError, ValueError):
        return None


def _is_hub_id(name: str) -> bool:
    """`org/name` that is not a local folder (a bare `name` or a path is a local identity)."""
    return bool(_HUB_ID.fullmatch(name.strip().rstrip("/"))) and _folder(name) is None


def _recorded_name(name: str) -> str | None:
    """The hub id a local HF folder was saved from (`_name_or_path` in its config.json), if any."""
    folder = _folder(name)
    if folder is None or not (folder / "config.json").is_file():
        return None
    try:
        value = json.loads((folder / "config.json").read_text()).get("_name_or_path")
    except (OSError, ValueError):
        return None
    return value if isinstance(value, str) and value.strip() else None


def _same_model(a: str, b: str) -> bool:
    if _norm(a) == _norm(b):
        return True
    # Same last component ("Qwen/Qwen2.5-0.5B" vs "/models/qwen2.5-0.5b/"), unless both are hub ids of different orgs.
    if _last(a) == _last(b) and not (_is_hub_id(a) and _is_hub_id(b)):
        return True
    pairs = ((_recorded_name(b), a), (_recorded_name(a), b))
    return any(r is not None and _norm(r) == _norm(other) for r, other in pairs)


def adapter_fits_base(adapter_base: str | None, deployment_base: str, *, aliases: Sequence[str] = ()) -> bool:
    """True if an adapter trained on `adapter_base` (its `base_model_name_or_path`) may run on `deployment_base`.

    Accepted: no recorded base; equal names (trailing slashes and case ignored); the same last path component when
    at least one side is a local folder or bare name (a hub id vs a local copy of it); a hub id recorded as
    `_name_or_path` in a local folder's config.json; and the same against each of `aliases`
    (config `model.base_model_aliases`: other names of this base).
    """
    if not adapter_base or not adapter_base.strip():
        return True
    return any(_same_model(adapter_base, name) for name in (deployment_base, *aliases) if name and name.strip())


def mismatch_message(adapter_base: str | None, deployment_base: str, what: str = "adapter") -> str:
    """Error text naming both bases and the override."""
    return (f"{what} was trained on base model {adapter_base!r}, this deployment serves {deployment_base!r}; "
            f"if they are the same model, list {adapter_base!r} in {ALIASES_HINT}")


def check_adapter_fits_base(adapter_base: str | None, deployment_base: str, *, aliases: Sequence[str] = (),
                            what: str = "adapter", error: type[Exception] = ValueError) -> None:
    """Raise `error` with `mismatch_message` unless `adapter_fits_base` (for callers such as CONTINUOUS training)."""
    if not adapter_fits_base(adapter_base, deployment_base, aliases=aliases):
        raise error(mismatch_message(adapter_base, deployment_base, what))
