"""BatchedEngine end-to-end tests on a tiny random Llama: parity with peft, streaming, LRU, errors, drain-then-evict."""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest

from clara_ray.serving import (
    AdapterIncompatible,
    AdapterNotFound,
    BatchedEngine,
    EngineOverloaded,
    GenerationRequest,
    PromptTooLong,
)

pytestmark = [pytest.mark.timeout(120), pytest.mark.filterwarnings("ignore::FutureWarning")]

PROMPTS = [
    "Der Hund",
    "Heute ist das Wetter schön und die Sonne",
    "Grüße aus München!",
    "Katze",
    "Ich lerne gern Deutsch in der Schule, aber manchmal ist es schwer.",
]


def run(coro):
    return asyncio.run(coro)


def test_mixed_batch_matches_peft_and_plain_model(tiny_base, adapters, reference):
    """One mixed concurrent batch (4 adapters + base, different prompt lengths and max_tokens, late joiners)
    must give exactly the greedy tokens of PeftModel / the plain model run one request at a time."""
    eng = BatchedEngine(tiny_base, max_batch_size=12, batch_wait_ms=20)
    for name, path in adapters.items():
        eng.load_adapter(name, str(path))
    names = [None, *adapters]
    first = [GenerationRequest(prompt=p, adapter=a, max_tokens=6 + 2 * i) for i, p in enumerate(PROMPTS) for a in names]
    late = [GenerationRequest(prompt=p + " und", adapter=a, max_tokens=8) for p in PROMPTS[:2] for a in names]

    async def main():
        early = [asyncio.ensure_future(eng.generate(r)) for r in first]
        await asyncio.sleep(0.05)  # let the first batch start, then join mid-flight
        rest = await asyncio.gather(*[eng.generate(r) for r in late])
        return await asyncio.gather(*early) + rest

    results = run(main())
    reqs = first + late
    for req, res in zip(reqs, results):
        ref = reference.greedy(req.adapter, req.prompt, req.max_tokens)
        assert res.token_ids == ref, (req.adapter, req.prompt)
        assert res.completion_tokens == len(ref)
        assert res.prompt_tokens == len(reference.tok(req.prompt).input_ids)
        assert res.finish_reason in ("stop", "length")
    # every adapter really changes the output somewhere (otherwise parity would be vacuous)
    by = {(r.adapter, r.prompt): res.token_ids for r, res in zip(reqs, results)}
    for a in adapters:
        assert any(by[(a, r.prompt)] != by[(None, r.prompt)] for r in first if r.adapter == a)
    st = eng.stats()
    assert st["requests_served"]["a8"] == len(PROMPTS) + 2
    assert st["tokens_generated"]["__base__"] == sum(len(res.token_ids) for r, res in zip(reqs, results) if r.adapter is None)
    assert st["prefill_batches"] >= 2 and st["mean_decode_batch_size"] > 4
    assert st["running_rows"] == 0 and st["waiting_rows"] == 0


def test_stream_yields_incremental_chunks_equal_to_generate(tiny_base, adapters):
    eng = BatchedEngine(tiny_base)
    eng.load_adapter("b16", str(adapters["b16"]))
    req = GenerationRequest(prompt="Grüße aus München!", adapter="b16", max_tokens=24)

    async def main():
        chunks = [c async for c in eng.stream(req)]
        return chunks, await eng.generate(req)

    stream, full = run(main())
    chunks = [c.text for c in stream[:-1]]
    assert len(chunks) > 3 and all(chunks)
    assert "".join(chunks) == full.text
    last = stream[-1]  # the stream ends with why it finished and the token counts, as generate() reports them
    assert (last.text, last.finish_reason, last.completion_tokens, last.prompt_tokens) == (
        "", full.finish_reason, full.completion_tokens, full.prompt_tokens)
    assert full.text == eng.tokenizer.decode(
        [t for t in full.token_ids if t != eng.tokenizer.eos_token_id], skip_special_tokens=True
    )


def test_stop_string_truncates_and_streams_consistently(tiny_base, adapters):
    eng = BatchedEngine(tiny_base)
    eng.load_adapter("a8", str(adapters["a8"]))
    base_req = GenerationRequest(prompt="Der Hund", adapter="a8", max_tokens=30)

    async def main():
        full = await eng.generate(base_req)
        stop = full.text[6:9]  # some string that greedy decoding is known to produce
        req = base_req.model_copy(update={"stop": [stop, "zzzz-never"]})
        return full, stop, await eng.generate(req), [c.text async for c in eng.stream(req)]

    full, stop, res, chunks = run(main())
    assert len(stop) == 3
    assert res.finish_reason == "stop"
    assert res.text == full.text[: full.text.index(stop)]
    assert "".join(chunks) == res.text
    assert len(res.token_ids) < len(full.token_ids)


def test_sampling_is_reproducible_per_seed(tiny_base, adapters):
    eng = BatchedEngine(tiny_base)
    eng.load_adapter("a8", str(adapters["a8"]))

    def req(seed, adapter="a8"):
        return GenerationRequest(prompt="Katze", adapter=adapter, max_tokens=16, temperature=1.0, top_p=0.9, seed=seed)

    async def main():
        # same seed in different batch compositions
        a = await asyncio.gather(eng.generate(req(7)), eng.generate(req(8)), eng.generate(req(7, None)))
        b = await eng.generate(req(7))
        return a, b

    (r7, r8, _), r7_again = run(main())
    assert r7.token_ids == r7_again.token_ids
    assert r7.token_ids != r8.token_ids


def test_lru_eviction_and_reload(tiny_base, adapters, reference):
    eng = BatchedEngine(tiny_base, max_adapters=2)
    eng.load_adapter("a8", str(adapters["a8"]))
    eng.load_adapter("b16", str(adapters["b16"]))

    async def use(name):
        return await eng.generate(GenerationRequest(prompt="Der Hund", adapter=name, max_tokens=8))

    run(use("a8"))  # a8 becomes most recently used -> b16 is the LRU victim
    eng.load_adapter("c8rs", str(adapters["c8rs"]))
    assert sorted(eng.loaded_adapters()) == ["a8", "c8rs"]
    st = eng.stats()
    assert st["evictions"] == 1 and st["draining_adapters"] == []
    with pytest.raises(AdapterNotFound):
        run(use("b16"))
    eng.load_adapter("b16", str(adapters["b16"]))  # evicts a8 now; b16 reuses the freed slot
    assert sorted(eng.loaded_adapters()) == ["b16", "c8rs"]
    assert eng.stats()["evictions"] == 2
    for name in ("b16", "c8rs"):
        assert run(use(name)).token_ids == reference.greedy(name, "Der Hund", 8)
    # evicted slots were cleared: only two slots hold weights
    mod = next(iter(eng.bank.wrapped.values()))
    assert sum(r > 0 for r in mod.slot_rank) == 2


def _copy_adapter(src, dst, **config_updates):
    shutil.copytree(src, dst)
    cfg = json.loads((dst / "adapter_config.json").read_text())
    cfg.update(config_updates)
    (dst / "adapter_config.json").write_text(json.dumps(cfg))
    return dst


def test_incompatible_adapters_load_nothing(tiny_base, adapters, tmp_path):
    import torch
    from safetensors.torch import load_file, save_file

    eng = BatchedEngine(tiny_base, max_lora_rank=8)
    no_weights = _copy_adapter(adapters["a8"], tmp_path / "no_weights")
    (no_weights / "adapter_model.safetensors").unlink()
    no_config = _copy_adapter(adapters["a8"], tmp_path / "no_config")
    (no_config / "adapter_config.json").unlink()
    bad_shape = _copy_adapter(adapters["a8"], tmp_path / "bad_shape")
    sd = load_file(bad_shape / "adapter_model.safetensors")
    key = next(k for k in sd if "lora_A" in k)
    sd[key] = torch.zeros(8, 32)  # base hidden size is 64
    save_file(sd, bad_shape / "adapter_model.safetensors")
    cases = {
        "rank too high": adapters["b16"],
        "unknown target": _copy_adapter(adapters["a8"], tmp_path / "bad_target", target_modules=["qq_proj"]),
        "lm_head target": _copy_adapter(adapters["a8"], tmp_path / "lm_head", target_modules=["lm_head"]),
        "dora": _copy_adapter(adapters["a8"], tmp_path / "dora", use_dora=True),
        "missing weights": no_weights,
        "missing config": no_config,
        "wrong shapes": bad_shape,
    }
    for why, path in cases.items():
        with pytest.raises(AdapterIncompatible):
            eng.load_adapter("x", str(path))
        assert eng.loaded_adapters() == [], why
    with pytest.raises(AdapterIncompatible):
        eng.load_adapter("x", str(adapters["a8"]), expected_base="org/other-model")
    with pytest.raises(AdapterNotFound):
        eng.load_adapter("x", str(tmp_path / "does-not-exist"))
    assert eng.bank.wrapped == {} and eng.bank.capacity == 0  # the model was never touched
    eng.load_adapter("x", str(adapters["a8"]), expected_base=str(tiny_base))  # matching base is accepted
    assert eng.loaded_adapters() == ["x"]


def test_request_errors(tiny_base):
    eng = BatchedEngine(tiny_base, max_prompt_tokens=16, max_queue=2)

    async def main():
        with pytest.raises(AdapterNotFound):
            await eng.generate(GenerationRequest(prompt="Der Hund", adapter="nope"))
        with pytest.raises(PromptTooLong):
            await eng.generate(GenerationRequest(prompt=" ".join(PROMPTS * 3)))
        # the engine task cannot admit anything before we yield, so the third submission overflows
        tasks = [asyncio.ensure_future(eng.generate(GenerationRequest(prompt="Katze", max_tokens=2))) for _ in range(3)]
        done = await asyncio.gather(*tasks, return_exceptions=True)
        assert isinstance(done[2], EngineOverloaded)
        assert all(d.completion_tokens >= 1 for d in done[:2])

    run(main())
    with pytest.raises(AdapterNotFound):
        eng.unload_adapter("nope")


def test_unload_during_inflight_request_drains_first(tiny_base, adapters, reference):
    eng = BatchedEngine(tiny_base)
    eng.load_adapter("b16", str(adapters["b16"]))
    req = GenerationRequest(prompt="Heute ist das Wetter", adapter="b16", max_tokens=24)

    async def main():
        chunks, states = [], []
        async for c in eng.stream(req):
            chunks.append(c.text)
            if len(chunks) == 1:
                eng.unload_adapter("b16")
                states.append(eng.stats())
                with pytest.raises(AdapterNotFound):
                    await eng.generate(req)
        return "".join(chunks), states[0]

    text, st = run(main())
    assert st["loaded_adapters"] == [] and st["draining_adapters"] == ["b16"]
    ref = reference.greedy("b16", req.prompt, req.max_tokens)
    assert text == eng._decode_ids(ref)
    after = eng.stats()
    assert after["draining_adapters"] == [] and after["requests_served"] == {"b16": 1}
    assert all(r == 0 for m in eng.bank.wrapped.values() for r in m.slot_rank)  # slot cleared after drain


def test_eviction_of_busy_adapter_waits_for_its_rows(tiny_base, adapters, reference):
    """max_adapters=1: loading a second adapter while the first has a row in flight must not swap the slot
    under that row; the new adapter's request waits for the slot and both results stay exact."""
    eng = BatchedEngine(tiny_base, max_adapters=1)
    eng.load_adapter("a8", str(adapters["a8"]))
    r1 = GenerationRequest(prompt="Der Hund", adapter="a8", max_tokens=20)
    r2 = GenerationRequest(prompt="Katze", adapter="d16mlp", max_tokens=10)

    async def main():
        t1 = asyncio.ensure_future(eng.generate(r1))
        while eng.stats()["running_rows"] == 0:
            await asyncio.sleep(0.001)
        eng.load_adapter("d16mlp", str(adapters["d16mlp"]))  # evicts a8 while its row runs
        st = eng.stats()
        res2 = await eng.generate(r2)
        return await t1, res2, st

    res1, res2, st = run(main())
    assert st["loaded_adapters"] == ["d16mlp"] and st["pending_adapters"] == ["d16mlp"]
    assert st["draining_adapters"] == ["a8"]
    assert res1.token_ids == reference.greedy("a8", r1.prompt, r1.max_tokens)
    assert res2.token_ids == reference.greedy("d16mlp", r2.prompt, r2.max_tokens)
    assert eng.stats()["evictions"] == 1


def test_replacing_an_adapter_id_uses_new_weights(tiny_base, adapters, reference):
    eng = BatchedEngine(tiny_base)
    eng.load_adapter("x", str(adapters["a8"]))
    eng.load_adapter("x", str(adapters["c8rs"]))
    res = run(eng.generate(GenerationRequest(prompt="Der Hund", adapter="x", max_tokens=10)))
    assert res.token_ids == reference.greedy("c8rs", "Der Hund", 10)
    assert eng.loaded_adapters() == ["x"]


def test_event_loop_stays_responsive_and_engine_reusable_across_loops(tiny_base):
    eng = BatchedEngine(tiny_base, max_batch_size=4)

    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.001)
                ticks += 1

        t = asyncio.ensure_future(ticker())
        res = await asyncio.gather(*[eng.generate(GenerationRequest(prompt=p, max_tokens=40)) for p in PROMPTS])
        t.cancel()
        return ticks, res

    ticks, res = run(main())
    assert ticks > 5  # ticks happen while forwards run in the worker thread
    again = run(eng.generate(GenerationRequest(prompt=PROMPTS[0], max_tokens=40)))  # new event loop
    assert again.token_ids == res[0].token_ids


def test_random_traffic_with_adapter_churn_stays_exact(tiny_base, adapters, reference):
    """Concurrent clients, 2 adapter slots for 4 adapters (loads on miss, random unloads, evictions),
    streams cancelled midway: every completed greedy result still equals the one-at-a-time reference."""
    import random

    eng = BatchedEngine(tiny_base, max_adapters=2, max_batch_size=5, batch_wait_ms=1)
    rng = random.Random(1)
    words = "Der Hund Katze Heute ist das Wetter schön Grüße aus München Straße".split()

    async def client():
        await asyncio.sleep(rng.random() * 0.2)
        name = rng.choice([None, *adapters])
        prompt = " ".join(rng.choice(words) for _ in range(rng.randint(1, 12)))
        req = GenerationRequest(prompt=prompt, adapter=name, max_tokens=rng.randint(1, 16))
        mode = rng.choice(["generate", "stream", "cancel"])
        for _ in range(50):
            try:
                if mode == "generate":
                    return req, (await eng.generate(req)).text
                chunks = []
                agen = eng.stream(req)
                async for c in agen:
                    chunks.append(c.text)
                    if mode == "cancel":
                        await agen.aclose()
                        return req, None
                return req, "".join(chunks)
            except AdapterNotFound:
                eng.load_adapter(name, str(adapters[name]))
                if rng.random() < 0.2 and len(eng.loaded_adapters()) > 1:
                    eng.unload_adapter(rng.choice([a for a in eng.loaded_adapters() if a != name]))
        raise AssertionError("request starved")

    async def main():
        return await asyncio.wait_for(asyncio.gather(*[client() for _ in range(30)]), 60)

    results = run(main())
    done = [(req, text) for req, text in results if text is not None]
    assert len(done) > 5
    for req, text in done:
        assert text == eng._decode_ids(reference.greedy(req.adapter, req.prompt, req.max_tokens)), req
    st = eng.stats()
    assert st["evictions"] > 0 and st["running_rows"] == 0 and st["waiting_rows"] == 0
    assert st["draining_adapters"] == [] and st["pending_adapters"] == []
