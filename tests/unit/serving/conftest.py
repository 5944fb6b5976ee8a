"""Fixtures for serving tests: a tiny random Llama base and random PEFT LoRA adapters (session-scoped)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
try:  # plain `pytest` (not `python -m pytest`) does not put the repo root on sys.path
    import clara_ray.serving  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

# name -> build_random_lora kwargs. All target q/k/v/o unless noted.
ADAPTERS = {
    "a8": dict(r=8, lora_alpha=16, seed=1),
    "b16": dict(r=16, lora_alpha=32, seed=2),
    "c8rs": dict(r=8, lora_alpha=8, seed=3, use_rslora=True),
    "d16mlp": dict(r=16, lora_alpha=16, seed=4, target_modules=("q_proj", "v_proj", "gate_proj", "up_proj", "down_proj")),
}


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> Path:
    from clara_ray.serving.testing import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny_llama"))


@pytest.fixture(scope="session")
def adapters(tiny_base, tmp_path_factory) -> dict[str, Path]:
    from clara_ray.serving.testing import build_random_lora

    root = tmp_path_factory.mktemp("adapters")
    return {name: build_random_lora(tiny_base, root / name, **kw) for name, kw in ADAPTERS.items()}


class Reference:
    """Greedy outputs of plain transformers / PeftModel, one request at a time (cached per adapter)."""

    def __init__(self, base: Path, adapters: dict[str, Path]):
        from transformers import AutoTokenizer

        self.base, self.adapters = base, adapters
        self.tok = AutoTokenizer.from_pretrained(base)
        self._models = {}

    def model(self, adapter: str | None):
        if adapter not in self._models:
            from peft import PeftModel
            from transformers import AutoModelForCausalLM

            m = AutoModelForCausalLM.from_pretrained(self.base).eval()
            if adapter is not None:
                m = PeftModel.from_pretrained(m, str(self.adapters[adapter])).eval()
            self._models[adapter] = m
        return self._models[adapter]

    def greedy(self, adapter: str | None, prompt: str, max_tokens: int) -> list[int]:
        import torch

        enc = self.tok(prompt, return_tensors="pt")
        with torch.inference_mode():
            out = self.model(adapter).generate(**enc, do_sample=False, max_new_tokens=max_tokens)
        ids = out[0, enc["input_ids"].shape[1] :].tolist()
        eos = self.tok.eos_token_id
        return ids[: ids.index(eos) + 1] if eos in ids else ids


@pytest.fixture(scope="session")
def reference(tiny_base, adapters) -> Reference:
    return Reference(tiny_base, adapters)
