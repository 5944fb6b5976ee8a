"""The batched multi-LoRA engine on CUDA: the tiny bundled model with two adapters gives the CPU engine's greedy
tokens exactly (float32 on both); bf16 and sampling run there too. Skipped where torch sees no CUDA GPU."""

from __future__ import annotations

import asyncio

import pytest
import torch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU visible to torch on this machine"),
    pytest.mark.timeout(300),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
]

PROMPTS = ["Der Hund", "Heute ist das Wetter schön und die Sonne", "Grüße aus München!", "Katze"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from clara_ray.serving.testing import build_random_lora, build_tiny_llama

    root = tmp_path_factory.mktemp("cuda_engine")
    base = build_tiny_llama(root / "base")
    loras = {
        "a8": build_random_lora(base, root / "a8", r=8, lora_alpha=16, seed=1),
        "m16": build_random_lora(base, root / "m16", r=16, lora_alpha=16, seed=4,
                                 target_modules=("q_proj", "v_proj", "gate_proj", "up_proj", "down_proj")),
    }
    return base, loras


def _serve(base, loras, reqs, **kw):
    from clara_ray.serving import BatchedEngine

    eng = BatchedEngine(base, max_batch_size=16, batch_wait_ms=20, **kw)
    for name, path in loras.items():
        eng.load_adapter(name, str(path))

    async def main():
        out = await asyncio.gather(*[eng.generate(r) for r in reqs])
        await eng.close()
        return out

    return eng, asyncio.run(main())


def _requests():
    from clara_ray.serving import GenerationRequest

    return [GenerationRequest(prompt=p, adapter=a, max_tokens=8 + 2 * i)
            for i, p in enumerate(PROMPTS) for a in (None, "a8", "m16")]


def test_cuda_greedy_equals_cpu_token_for_token(world):
    base, loras = world
    reqs = _requests()
    cpu_eng, on_cpu = _serve(base, loras, reqs, device="cpu", dtype="float32")
    cuda_eng, on_cuda = _serve(base, loras, reqs, device="cuda", dtype="float32")
    assert cuda_eng.device.type == "cuda" and cpu_eng.device.type == "cpu"
    assert {p.device.type for p in cuda_eng.model.parameters()} == {"cuda"}
    assert cuda_eng.stats()["lora_slot_bytes"] > 0 and cuda_eng.stats()["mean_decode_batch_size"] > 1
    for req, a, b in zip(reqs, on_cpu, on_cuda):
        assert b.token_ids == a.token_ids, (req.adapter, req.prompt)
        assert b.text == a.text
    by = {(r.adapter, r.prompt): res.token_ids for r, res in zip(reqs, on_cuda)}
    assert any(by[(a, p)] != by[(None, p)] for p in PROMPTS for a in ("a8", "m16"))  # adapters really act


def test_cuda_bf16_sampling_and_logprobs_run(world):
    from clara_ray.serving import GenerationRequest

    base, loras = world
    reqs = [GenerationRequest(prompt=p, adapter="a8", max_tokens=6, temperature=0.8, top_p=0.9, seed=7, logprobs=2,
                              repetition_penalty=1.2, presence_penalty=0.3) for p in PROMPTS]
    eng, first = _serve(base, loras, reqs, device="cuda", dtype="bfloat16")
    _, again = _serve(base, loras, reqs, device="cuda", dtype="bfloat16")
    assert eng.dtype == torch.bfloat16 and next(eng.model.parameters()).dtype == torch.bfloat16
    assert [r.token_ids for r in first] == [r.token_ids for r in again]  # seeded CUDA generators repeat
    assert all(len(r.logprobs) == r.completion_tokens and r.completion_tokens > 0 for r in first)
