"""Model defaults in the engines: serving dtype, generation_config EOS ids and sampling defaults, repetition penalty."""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest
import torch

from clara_ray.serving import BatchedEngine, GenerationRequest
from clara_ray.serving.model_defaults import SamplingDefaults, model_dtype

pytestmark = [pytest.mark.timeout(180), pytest.mark.filterwarnings("ignore::FutureWarning")]

PROMPTS = ["Der Hund", "Heute ist das Wetter schön und die Sonne", "Katze"]


def run(coro):
    return asyncio.run(coro)


def _variant(tiny_base, dst, *, config: dict | None = None, generation: dict | None = None):
    """A copy of the tiny base with config.json / generation_config.json fields replaced."""
    shutil.copytree(tiny_base, dst)
    for name, updates in (("config.json", config), ("generation_config.json", generation)):
        if updates:
            data = json.loads((dst / name).read_text())
            data.update(updates)
            (dst / name).write_text(json.dumps(data))
    return dst


def _hf_greedy(base, prompt: str, max_tokens: int, **kw) -> list[int]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base).eval()
    enc = tok(prompt, return_tensors="pt")
    with torch.inference_mode():
        out = model.generate(**enc, do_sample=False, max_new_tokens=max_tokens, **kw)
    ids = out[0, enc["input_ids"].shape[1]:].tolist()
    eos = set(model.generation_config.eos_token_id if isinstance(model.generation_config.eos_token_id, list)
              else [model.generation_config.eos_token_id])
    cut = next((i for i, t in enumerate(ids) if t in eos), None)
    return ids if cut is None else ids[: cut + 1]


def _gen_all(eng, reqs):
    async def main():
        return await asyncio.gather(*[eng.generate(r) for r in reqs])

    return run(main())


# ---------------------------------------------------------------- dtype


def test_bfloat16_engine_matches_float32_first_tokens(tiny_base, adapters):
    f32, b16 = BatchedEngine(tiny_base), BatchedEngine(tiny_base, dtype="bfloat16")
    assert b16.dtype == torch.bfloat16 and next(b16.model.parameters()).dtype == torch.bfloat16
    for eng in (f32, b16):
        eng.load_adapter("a8", str(adapters["a8"]))
    assert b16.bank.nbytes() * 2 == f32.bank.nbytes()  # LoRA tensors follow the engine dtype
    reqs = [GenerationRequest(prompt=p, adapter=a, max_tokens=2) for p in PROMPTS for a in (None, "a8")]
    for r, x, y in zip(reqs, _gen_all(f32, reqs), _gen_all(b16, reqs)):
        assert x.token_ids[0] == y.token_ids[0], (r.prompt, r.adapter)


def test_dtype_auto_follows_config_json(tiny_base, tmp_path):
    assert model_dtype(tiny_base) == "float32" and BatchedEngine(tiny_base, dtype="auto").dtype == torch.float32
    bf = _variant(tiny_base, tmp_path / "bf", config={"dtype": "bfloat16"})
    assert BatchedEngine(bf, dtype="auto").dtype == torch.bfloat16
    legacy = _variant(tiny_base, tmp_path / "legacy", config={"dtype": None, "torch_dtype": "float16"})
    assert model_dtype(legacy) == "float16" and BatchedEngine(legacy, dtype="auto").dtype == torch.float32
    with pytest.raises(ValueError, match="float16"):
        BatchedEngine(tiny_base, dtype="float16")


def test_factory_passes_serving_dtype_and_aliases(tiny_base, settings):
    from clara_ray.serving.factory import build_engine

    s = settings.model_copy(update={"serving": settings.serving.model_copy(update={"dtype": "bfloat16"}),
                                    "model": settings.model.model_copy(update={"base_model_aliases": ["org/x"]})})
    eng = build_engine(s, str(tiny_base))
    assert eng.dtype == torch.bfloat16 and eng.base_aliases == ("org/x",)


# ---------------------------------------------------------------- generation_config


def test_any_generation_config_eos_id_stops(tiny_base, tmp_path):
    plain = run(BatchedEngine(tiny_base).generate(GenerationRequest(prompt="Der Hund", max_tokens=12))).token_ids
    k = next(i for i in range(1, len(plain)) if plain[i] not in plain[:i])  # first new token after the first
    eos = json.loads((tiny_base / "generation_config.json").read_text())["eos_token_id"]
    two = _variant(tiny_base, tmp_path / "two_eos", generation={"eos_token_id": [eos, plain[k]]})
    eng = BatchedEngine(two)
    assert {eos, plain[k]} <= eng.eos_ids
    res = run(eng.generate(GenerationRequest(prompt="Der Hund", max_tokens=12)))
    assert res.token_ids == plain[: k + 1] and res.finish_reason == "stop"
    assert res.token_ids == _hf_greedy(two, "Der Hund", 12)


def test_sampling_defaults_from_generation_config():
    assert SamplingDefaults.from_generation_config({}) == SamplingDefaults(0.0, 1.0, 1.0)
    assert SamplingDefaults.from_generation_config({"do_sample": True}).temperature == 1.0
    d = SamplingDefaults.from_generation_config({"do_sample": True, "temperature": 0.7, "top_p": 0.8,
                                                "repetition_penalty": 1.05})
    assert d == SamplingDefaults(0.7, 0.8, 1.05)
    assert SamplingDefaults.from_generation_config({"temperature": 0.7, "top_p": 7}) == SamplingDefaults()  # greedy
    assert d.resolve(GenerationRequest(prompt="x")) == (0.7, 0.8, 1.05)
    assert d.resolve(GenerationRequest(prompt="x", temperature=0, top_p=1, repetition_penalty=1)) == (0, 1, 1)


def test_engine_uses_model_defaults_when_request_leaves_them_unset(tiny_base, tmp_path):
    sampling = _variant(tiny_base, tmp_path / "sampling",
                        generation={"do_sample": True, "temperature": 0.7, "top_p": 0.9, "repetition_penalty": 1.3})
    eng = BatchedEngine(sampling)
    assert eng.sampling_defaults == SamplingDefaults(0.7, 0.9, 1.3)
    implicit = GenerationRequest(prompt="Katze", max_tokens=16, seed=5)
    explicit = GenerationRequest(prompt="Katze", max_tokens=16, seed=5, temperature=0.7, top_p=0.9,
                                 repetition_penalty=1.3)
    greedy = GenerationRequest(prompt="Katze", max_tokens=16, temperature=0, repetition_penalty=1.0)
    a, b, g = _gen_all(eng, [implicit, explicit, greedy])
    assert a.token_ids == b.token_ids != g.token_ids
    assert g.token_ids == run(BatchedEngine(tiny_base).generate(GenerationRequest(prompt="Katze", max_tokens=16))).token_ids


def test_repetition_penalty_matches_transformers_per_row(tiny_base, tmp_path):
    """A mixed batch (no penalty, 1.5, 0.7, and the model's default 1.3) equals HF generate row by row."""
    penalised = _variant(tiny_base, tmp_path / "rp", generation={"repetition_penalty": 1.3})
    eng = BatchedEngine(penalised, max_batch_size=8, batch_wait_ms=20)
    cases = [(p, rp) for p in PROMPTS for rp in (1.0, 1.5, 0.7, None)]
    reqs = [GenerationRequest(prompt=p, max_tokens=20, repetition_penalty=rp) for p, rp in cases]
    results = _gen_all(eng, reqs)
    for (p, rp), res in zip(cases, results):
        assert res.token_ids == _hf_greedy(penalised, p, 20, repetition_penalty=1.3 if rp is None else rp), (p, rp)
    by_penalty = {rp: res.token_ids for (p, rp), res in zip(cases, results) if p == PROMPTS[1]}
    assert len({tuple(v) for v in by_penalty.values()}) >= 3  # the penalty really changes outputs


def test_serve_llm_bodies_follow_the_same_defaults():
    """Ray Serve LLM (vLLM) gets the same resolved sampling fields as the batched engine would use."""
    from clara_ray.serving.serve_llm import completion_body

    d = SamplingDefaults(0.6, 0.9, 1.1)
    body = completion_body(GenerationRequest(prompt="x", max_tokens=7, stop=["\n"], seed=3), "base", d, stream=False)
    assert {k: body[k] for k in ("max_tokens", "temperature", "top_p", "repetition_penalty", "stop", "seed")} == \
        {"max_tokens": 7, "temperature": 0.6, "top_p": 0.9, "repetition_penalty": 1.1, "stop": ["\n"], "seed": 3}
    assert "logprobs" not in body and "stop_token_ids" not in body
    assert completion_body(GenerationRequest(prompt="x"), "base", d, stream=False, stop_token_ids=[7])[
        "stop_token_ids"] == [7]
    body = completion_body(GenerationRequest(prompt="x", temperature=0, top_p=0.5, repetition_penalty=1.0), "b", d,
                           stream=False)
    assert (body["temperature"], body["top_p"], body["repetition_penalty"]) == (0, 0.5, 1.0)


def test_serve_llm_engine_args_carry_dtype(settings):
    from clara_ray.serving.serve_llm import engine_kwargs

    s = settings.model_copy(update={"serving": settings.serving.model_copy(update={"dtype": "auto"})})
    assert engine_kwargs(s)["dtype"] == "auto"


def test_native_api_leaves_sampling_fields_unset():
    from clara_ray.api.serving_routes import GenerateBody

    params = GenerateBody(prompt="x").params()
    assert params["temperature"] is None and params["top_p"] is None and params["repetition_penalty"] is None
    GenerationRequest(prompt="x", **params)  # the engine request accepts them
