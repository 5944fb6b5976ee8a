"""What a base model's own files say about serving it: its dtype (config.json) and sampling defaults (generation_config)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .engine import GenerationRequest


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def model_dtype(base: str | Path) -> str | None:
    """`dtype` (transformers 5) or `torch_dtype` from a local model folder's config.json, e.g. "bfloat16"."""
    cfg = _read_json(Path(base) / "config.json")
    value = cfg.get("dtype") or cfg.get("torch_dtype")
    return str(value).removeprefix("torch.") if value else None


@dataclass(frozen=True)
class SamplingDefaults:
    """Values used when a request leaves a sampling field unset (None)."""

    temperature: float = 0.0  # 0 = greedy (HF: do_sample unset or False)
    top_p: float = 1.0
    repetition_penalty: float = 1.0  # 1 = off

    @classmethod
    def from_generation_config(cls, gc: Any) -> SamplingDefaults:
        """From a transformers GenerationConfig or its dict; missing or invalid values keep the class defaults."""
        get = gc.get if isinstance(gc, dict) else (lambda k: getattr(gc, k, None))
        t, p, rp = get("temperature"), get("top_p"), get("repetition_penalty")
        temperature = (float(t) if isinstance(t, (int, float)) and t >= 0 else 1.0) if get("do_sample") else 0.0
        return cls(
            temperature=temperature,
            top_p=float(p) if isinstance(p, (int, float)) and 0 < p <= 1 else 1.0,
            repetition_penalty=float(rp) if isinstance(rp, (int, float)) and rp > 0 else 1.0,
        )

    @classmethod
    def from_model_folder(cls, base: str | Path) -> SamplingDefaults:
        """From `<base>/generation_config.json` (no transformers needed); class defaults when absent."""
        return cls.from_generation_config(_read_json(Path(base) / "generation_config.json"))

    def resolve(self, req: GenerationRequest) -> tuple[float, float, float]:
        """(temperature, top_p, repetition_penalty) for a request: its own values, else these defaults."""
        return (
            self.temperature if req.temperature is None else req.temperature,
            self.top_p if req.top_p is None else req.top_p,
            self.repetition_penalty if req.repetition_penalty is None else req.repetition_penalty,
        )
