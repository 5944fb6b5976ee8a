"""Read and validate a PEFT LoRA adapter folder into per-module tensors, without touching the served model."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from collections.abc import Sequence
from pathlib import Path

import torch

from clara_ray.adapters.compat import check_adapter_fits_base

from .engine import AdapterIncompatible, AdapterNotFound

CONFIG_NAME = "adapter_config.json"
WEIGHTS_NAMES = ("adapter_model.safetensors", "adapter_model.bin")

# peft saves "base_model.model.<module>.lora_A.weight" (older versions may keep the adapter name before ".weight").
_KEY_RE = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<ab>[AB])(?:\.[A-Za-z0-9_\-]+)?\.weight$")

# Config switches this engine cannot serve in a shared batch: value that means "off" for each.
_UNSUPPORTED = {
    "use_dora": False,
    "lora_bias": False,
    "modules_to_save": None,
    "layer_replication": None,
    "target_parameters": None,
    "trainable_token_indices": None,
    "alora_invocation_tokens": None,
}


@dataclass
class LoraWeights:
    """A validated adapter: per target module (A^T [in, r], (B * scaling)^T [r, out])."""

    path: str
    rank: int  # max rank over modules
    modules: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    base_model: str | None = None

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes + b.nbytes for a, b in self.modules.values())


def _pattern_value(patterns: dict, module: str, default):
    # Same matching rule as peft's get_pattern_key: the pattern must match a dotted suffix of the module name.
    for pat, val in (patterns or {}).items():
        if re.match(rf"(.*\.)?({pat})$", module):
            return val
    return default


def _check_targets(target_modules, candidates: dict[str, tuple[int, int]]) -> None:
    if target_modules is None or target_modules == "all-linear":
        return
    if isinstance(target_modules, str):
        if not any(re.fullmatch(target_modules, n) for n in candidates):
            raise AdapterIncompatible(f"target_modules regex {target_modules!r} matches no linear layer of the base")
        return
    missing = [t for t in target_modules if not any(n == t or n.endswith("." + t) for n in candidates)]
    if missing:
        raise AdapterIncompatible(f"target modules not found in the base model (or not supported): {missing}")


def read_config(path: str | Path) -> dict:
    p = Path(path)
    if not p.exists():
        raise AdapterNotFound("no adapter files at this version's location")  # no server path to clients
    cfg_file = p / CONFIG_NAME
    if not p.is_dir() or not cfg_file.is_file():
        raise AdapterIncompatible(f"not a PEFT adapter folder (missing {CONFIG_NAME})")
    try:
        return json.loads(cfg_file.read_text())
    except (OSError, ValueError) as e:
        raise AdapterIncompatible(f"unreadable {CONFIG_NAME}: {e}") from e


def _load_state_dict(p: Path) -> dict[str, torch.Tensor]:
    for name in WEIGHTS_NAMES:
        f = p / name
        if f.is_file():
            try:
                if name.endswith(".safetensors"):
                    from safetensors.torch import load_file

                    return load_file(str(f))
                return torch.load(str(f), map_location="cpu", weights_only=True)
            except Exception as e:  # corrupt file: safetensors/torch raise various types
                raise AdapterIncompatible(f"unreadable adapter weights {f.name}: {e}") from e
    raise AdapterIncompatible(f"missing adapter weights ({' or '.join(WEIGHTS_NAMES)})")


def read_lora_adapter(
    path: str | Path,
    *,
    candidates: dict[str, tuple[int, int]],
    max_rank: int,
    expected_base: str | None = None,
    base_aliases: Sequence[str] = (),
    dtype: torch.dtype = torch.float32,
) -> LoraWeights:
    """Validate `path` against the base (`candidates`: linear module name -> (in, out)) and return its weights.

    `expected_base` (with its `base_aliases`) is checked with `adapter_fits_base`; None skips the check.
    Raises AdapterNotFound (no such path) or AdapterIncompatible; has no side effects.
    """
    p = Path(path)
    cfg = read_config(p)
    if str(cfg.get("peft_type", "LORA")).upper() != "LORA":
        raise AdapterIncompatible(f"peft_type {cfg.get('peft_type')!r} is not LORA")
    if expected_base is not None:
        check_adapter_fits_base(cfg.get("base_model_name_or_path"), expected_base, aliases=base_aliases,
                                error=AdapterIncompatible)
    if cfg.get("bias", "none") != "none":
        raise AdapterIncompatible(f"LoRA bias={cfg.get('bias')!r} is not supported")
    for key, off in _UNSUPPORTED.items():
        val = cfg.get(key, off)
        if val not in (off, None, False, [], {}):
            raise AdapterIncompatible(f"adapter option {key}={val!r} is not supported")
    r = int(cfg.get("r", 8))
    ranks = [r, *[int(v) for v in (cfg.get("rank_pattern") or {}).values()]]
    if max(ranks) > max_rank:
        raise AdapterIncompatible(f"adapter rank {max(ranks)} exceeds max_lora_rank={max_rank}")
    _check_targets(cfg.get("target_modules"), candidates)

    sd = _load_state_dict(p)
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    for key, t in sd.items():
        m = _KEY_RE.match(key)
        if m is None:
            raise AdapterIncompatible(f"unsupported tensor in adapter weights: {key!r}")
        pairs.setdefault(m["module"], {})[m["ab"]] = t
    if not pairs:
        raise AdapterIncompatible("adapter weights contain no LoRA tensors")

    alpha = float(cfg.get("lora_alpha", 8))
    rslora = bool(cfg.get("use_rslora", False))
    out = LoraWeights(path=str(p), rank=0, base_model=cfg.get("base_model_name_or_path"))
    for mod, ab in pairs.items():
        if mod not in candidates:
            raise AdapterIncompatible(f"adapter targets {mod!r}, which is not a linear layer of the base model")
        if set(ab) != {"A", "B"}:
            raise AdapterIncompatible(f"{mod}: lora_A/lora_B pair incomplete")
        a, b = ab["A"], ab["B"]  # a: [r, in], b: [out, r]
        fin, fout = candidates[mod]
        if a.ndim != 2 or b.ndim != 2 or a.shape[1] != fin or b.shape[0] != fout or a.shape[0] != b.shape[1]:
            raise AdapterIncompatible(
                f"{mod}: LoRA shapes A{tuple(a.shape)} B{tuple(b.shape)} do not fit Linear({fin}, {fout})"
            )
        rm = a.shape[0]
        if rm > max_rank:
            raise AdapterIncompatible(f"{mod}: rank {rm} exceeds max_lora_rank={max_rank}")
        if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
            raise AdapterIncompatible(f"{mod}: non-finite LoRA weights")
        a_mod = float(_pattern_value(cfg.get("alpha_pattern"), mod, alpha))
        scale = a_mod / math.sqrt(rm) if rslora else a_mod / rm
        # Fold the scaling into B so the hot path is two matmuls: y += (x @ A^T) @ (s * B^T).
        out.modules[mod] = (
            a.to(torch.float32).t().contiguous().to(dtype),
            (b.to(torch.float32) * scale).t().contiguous().to(dtype),
        )
        out.rank = max(out.rank, rm)
    return out
