"""Part (b): the batched multi-LoRA engine (clara_ray's BatchedEngine) vs naive peft (set_adapter, then generate
that adapter's requests) vs the base model alone, with N adapters: generated tokens/s and peak memory."""

from __future__ import annotations

import asyncio
import random
import statistics
from dataclasses import dataclass
from pathlib import Path

import torch

from clara_ray.serving.batched_engine import BatchedEngine
from clara_ray.serving.engine import GenerationRequest

from .common import (LORA_TARGETS, build_random_llama, fmt, free_memory, markdown_table, now, param_count, peak_gib,
                     reset_peak, save_model)


@dataclass(frozen=True)
class Workload:
    requests: int  # all submitted at once; the engine decodes them in one batch
    prompt_tokens: tuple[int, int]  # uniform range of prompt lengths
    new_tokens: int
    repeats: int  # engine runs per configuration (median kept)
    naive_budget_s: float  # naive peft serves adapter groups until this much time has passed


@dataclass
class Measure:
    tokens_per_s: float
    peak_gib: float | None
    note: str = ""


def make_adapters(folder: Path, n: int, device: torch.device, root: Path) -> list[Path]:
    """`n` PEFT LoRA adapters (r=16 on every linear layer of a block) with random A and B, saved under `root`."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16).to(device)
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=list(LORA_TARGETS),
                                             task_type="CAUSAL_LM"))
    out = []
    for i in range(n):
        gen = torch.Generator().manual_seed(i + 1)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "lora_A" in name:
                    p.copy_(torch.randn(p.shape, generator=gen) / p.shape[1] ** 0.5)
                elif "lora_B" in name:
                    p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
        model.save_pretrained(root / f"lora{i}")
        out.append(root / f"lora{i}")
    del model
    free_memory(device)
    return out


def prompts(w: Workload, vocab: int, seed: int = 0) -> list[list[int]]:
    rng = random.Random(seed)
    return [[rng.randrange(3, vocab) for _ in range(rng.randint(*w.prompt_tokens))] for _ in range(w.requests)]


def adapter_names(n_requests: int, n_adapters: int) -> list[str | None]:
    return [f"lora{i % n_adapters}" if n_adapters else None for i in range(n_requests)]


def bench_engine(folder, adapters, ids, names, w: Workload, device, dtype) -> Measure:
    free_memory(device)
    reset_peak(device)  # the peak covers the weights, the LoRA slots and the KV cache
    eng = BatchedEngine(folder, max_adapters=max(1, len(adapters)), max_lora_rank=16, max_batch_size=w.requests,
                        batch_wait_ms=5, max_new_tokens=w.new_tokens, dtype=dtype, device=device)
    for i, p in enumerate(adapters):
        eng.load_adapter(f"lora{i}", str(p))
    reqs = [GenerationRequest(prompt="", prompt_token_ids=x, adapter=a, max_tokens=w.new_tokens)
            for x, a in zip(ids, names)]

    async def main() -> list[float]:
        await asyncio.gather(*[eng.generate(r) for r in reqs[:4]])  # warm-up (kernels, allocator)
        rates = []
        for _ in range(w.repeats):
            t = now(device)
            res = await asyncio.gather(*[eng.generate(r) for r in reqs])
            rates.append(sum(r.completion_tokens for r in res) / (now(device) - t))
        await eng.close()
        return rates

    rates = asyncio.run(main())
    m = Measure(statistics.median(rates), peak_gib(device), f"{eng.stats()['mean_decode_batch_size']:.0f} rows/step")
    eng = None  # drop the engine (a cell of main(), so not `del`) before freeing its memory
    free_memory(device)
    return m


def _left_pad(batch: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(x) for x in batch)
    ids = torch.tensor([[pad_id] * (width - len(x)) + x for x in batch], device=device)
    mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in batch], device=device)
    return ids, mask


def _generate(model, batch, w: Workload, pad_id: int, eos_id: int, device) -> int:
    """One left-padded greedy generate; the tokens it produced (up to each row's EOS)."""
    ids, mask = _left_pad(batch, pad_id, device)
    out = model.generate(input_ids=ids, attention_mask=mask, do_sample=False, max_new_tokens=w.new_tokens,
                         pad_token_id=pad_id, eos_token_id=eos_id)[:, ids.shape[1]:].tolist()
    return sum(row.index(eos_id) + 1 if eos_id in row else len(row) for row in out)


def bench_hf(folder, adapters, ids, names, w: Workload, device, dtype, pad_id, eos_id) -> Measure:
    """Without adapters: the plain model generates the whole batch at once. With adapters (naive peft): one
    adapter at a time, `set_adapter` then one generate of that adapter's requests, until the time budget."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    free_memory(device)
    reset_peak(device)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).to(device).eval()
    if adapters:
        model = PeftModel.from_pretrained(model, str(adapters[0]), adapter_name="lora0")
        for i, p in enumerate(adapters[1:], 1):
            model.load_adapter(str(p), adapter_name=f"lora{i}")
        model.eval()
    groups = {}
    for x, a in zip(ids, names):
        groups.setdefault(a, []).append(x)
    with torch.inference_mode():
        if adapters:
            model.set_adapter("lora0")
        _generate(model, ids[:2], Workload(2, (1, 1), 2, 1, 0), pad_id, eos_id, device)  # warm-up
        t, tokens, done = now(device), 0, 0
        for a, batch in groups.items():
            if a is not None:
                model.set_adapter(a)
            tokens += _generate(model, batch, w, pad_id, eos_id, device)
            done += 1
            if now(device) - t > w.naive_budget_s:
                break
        rate = tokens / (now(device) - t)
    note = f"{done} of {len(groups)} adapter groups timed" if adapters else "one generate, whole batch"
    m = Measure(rate, peak_gib(device), note)
    del model
    free_memory(device)
    return m


def run(size: dict, device: torch.device, dtype: torch.dtype, adapter_counts: list[int], w: Workload,
        workdir: Path) -> str:
    """All rows; returns the markdown table (with a line on the model and the workload)."""
    model, tokenizer = build_random_llama(size, device, torch.bfloat16)
    n_params = param_count(model)
    folder = save_model(model, tokenizer, workdir / "serve_base")
    del model
    free_memory(device)
    adapters = make_adapters(folder, max(adapter_counts), device, workdir / "adapters")
    ids = prompts(w, len(tokenizer))
    pad, eos = tokenizer.pad_token_id, tokenizer.eos_token_id

    rows = []
    base_hf = bench_hf(folder, [], ids, adapter_names(w.requests, 0), w, device, dtype, pad, eos)
    base_eng = bench_engine(folder, [], ids, adapter_names(w.requests, 0), w, device, dtype)
    ref = base_eng.tokens_per_s
    rows.append(["base model, HF generate", "0", fmt(base_hf.tokens_per_s), fmt(base_hf.peak_gib, ".2f"),
                 f"{base_hf.tokens_per_s / ref:.2f}x", base_hf.note])
    rows.append(["base model, batched engine", "0", fmt(ref), fmt(base_eng.peak_gib, ".2f"), "1.00x", base_eng.note])
    for n in adapter_counts:
        names = adapter_names(w.requests, n)
        eng = bench_engine(folder, adapters[:n], ids, names, w, device, dtype)
        naive = bench_hf(folder, adapters[:n], ids, names, w, device, dtype, pad, eos)
        rows.append([f"batched engine ({eng.tokens_per_s / naive.tokens_per_s:.1f}x naive)", str(n),
                     fmt(eng.tokens_per_s), fmt(eng.peak_gib, ".2f"), f"{eng.tokens_per_s / ref:.2f}x", eng.note])
        rows.append(["naive peft (set_adapter + generate)", str(n), fmt(naive.tokens_per_s), fmt(naive.peak_gib, ".2f"),
                     f"{naive.tokens_per_s / ref:.2f}x", naive.note])
    head = (f"Serving: random-init Llama, {n_params / 1e6:,.1f}M params, {dtype} on {device}; {w.requests} concurrent "
            f"requests spread round-robin over the adapters (LoRA r=16 on q,k,v,o,gate,up,down), prompts "
            f"{w.prompt_tokens[0]}-{w.prompt_tokens[1]} tokens, up to {w.new_tokens} new tokens, greedy; engine "
            f"figures are the median of {w.repeats} runs")
    table = markdown_table(["run", "adapters", "generated tok/s", "peak memory GiB", "vs base (engine)", "notes"], rows)
    return head + "\n\n" + table
