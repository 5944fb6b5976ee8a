"""vLLM engine on a GPU replica: runs where vLLM and CUDA exist (GPU images with the `vllm` extra), skipped elsewhere."""

from __future__ import annotations

import asyncio
import importlib.util

import pytest

pytestmark = pytest.mark.gpu


def _gpu_reason() -> str | None:
    if importlib.util.find_spec("vllm") is None:
        return "vLLM is not installed (it has no CPU wheel; install the `vllm` extra on a GPU image)"
    import torch

    if not torch.cuda.is_available():
        return "no CUDA GPU on this machine"
    return None


@pytest.mark.skipif(_gpu_reason() is not None, reason=_gpu_reason() or "")
@pytest.mark.timeout(900)
def test_vllm_engine_serves_base_and_adapters(tmp_path, settings):
    from clara_ray.training.base_model import TinyModelSpec, ensure_base_model
    from clara_ray.serving.engine import GenerationRequest
    from clara_ray.serving.testing import build_random_lora
    from clara_ray.serving.vllm_engine import VllmEngine

    base = str(ensure_base_model("tiny", tmp_path, TinyModelSpec(pretrain_steps=0)))
    lora = build_random_lora(base, tmp_path / "lora", r=8, lora_alpha=16, seed=1)
    engine = VllmEngine(base, settings)
    engine.load_adapter("v1", str(lora))

    async def run():
        a = await engine.generate(GenerationRequest(prompt="Baugenehmigung", adapter="v1", max_tokens=8))
        b = await engine.generate(GenerationRequest(prompt="Baugenehmigung", max_tokens=8))
        return a, b

    with_adapter, base_only = asyncio.run(run())
    assert with_adapter.completion_tokens > 0 and base_only.completion_tokens > 0
