"""Benchmark BatchedEngine (batched multi-LoRA) against naive peft serving, peft mixed-batch generate and the base model."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import torch  # noqa: E402

from clara_ray.serving import BatchedEngine, GenerationRequest  # noqa: E402
from clara_ray.serving.testing import _WORDS, build_random_lora, build_tiny_llama  # noqa: E402

SIZES = {
    "tiny": dict(hidden_size=64, num_layers=2, num_heads=4, intermediate_size=128),
    "medium": dict(hidden_size=512, num_layers=4, num_heads=8, intermediate_size=1408),
}


def make_prompts(n: int) -> list[str]:
    # Deterministic prompts of varied length (about 4..30 tokens).
    return [" ".join(_WORDS[(i * 7 + j * 3) % len(_WORDS)] for j in range(3 + (i * 5) % 18)) for i in range(n)]


def build(size: str, root: Path, n_adapters: int, rank: int) -> tuple[Path, list[Path]]:
    base = build_tiny_llama(root / size, **SIZES[size])
    adapters = [build_random_lora(base, root / f"{size}-lora{i}", r=rank, lora_alpha=2 * rank, seed=i + 1) for i in range(n_adapters)]
    return base, adapters


def make_engine(base: Path, adapters: list[Path], max_batch: int) -> BatchedEngine:
    eng = BatchedEngine(base, max_adapters=max(1, len(adapters)), max_batch_size=max_batch, batch_wait_ms=5)
    for i, p in enumerate(adapters):
        eng.load_adapter(f"lora{i}", str(p))
    return eng


def bench_engine(eng: BatchedEngine, reqs: list[GenerationRequest]) -> tuple[float, int]:
    """All requests submitted concurrently; wall time until the last one finishes."""

    async def go(rs):
        return await asyncio.gather(*[eng.generate(r) for r in rs])

    async def main():
        await go(reqs[:4])  # warm-up
        t = time.perf_counter()
        res = await go(reqs)
        return time.perf_counter() - t, res

    dt, res = asyncio.run(main())
    return dt, sum(r.completion_tokens for r in res)


def load_peft(base: Path, adapters: list[Path]):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base)
    tok.padding_side = "left"
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base).eval(), str(adapters[0]), adapter_name="lora0")
    for i, p in enumerate(adapters[1:], 1):
        model.load_adapter(str(p), adapter_name=f"lora{i}")
    return tok, model.eval()


def bench_naive(tok, model, prompts, names, new_tokens) -> tuple[float, int]:
    """One request at a time: set_adapter, then generate (what a simple peft server does)."""

    def one(p, a):
        model.set_adapter(a)
        enc = tok(p, return_tensors="pt")
        out = model.generate(**enc, do_sample=False, max_new_tokens=new_tokens, pad_token_id=tok.pad_token_id)
        return _count(out[0, enc["input_ids"].shape[1] :].tolist(), tok.eos_token_id)

    with torch.inference_mode():
        one(prompts[0], names[0])  # warm-up
        t = time.perf_counter()
        n = sum(one(p, a) for p, a in zip(prompts, names))
    return time.perf_counter() - t, n


def bench_peft_mixed(tok, model, prompts, names, new_tokens) -> tuple[float, int]:
    """peft's own mixed-adapter batch: one left-padded generate(adapter_names=...) call."""
    with torch.inference_mode():
        enc = tok(prompts[:2], return_tensors="pt", padding=True)
        model.generate(**enc, adapter_names=names[:2], do_sample=False, max_new_tokens=2)  # warm-up
        enc = tok(prompts, return_tensors="pt", padding=True)
        t = time.perf_counter()
        out = model.generate(**enc, adapter_names=names, do_sample=False, max_new_tokens=new_tokens, pad_token_id=tok.pad_token_id)
        dt = time.perf_counter() - t
    n = sum(_count(row.tolist(), tok.eos_token_id) for row in out[:, enc["input_ids"].shape[1] :])
    return dt, n


def _median(runs: list[tuple[float, int]]) -> tuple[float, int]:
    return sorted(runs, key=lambda r: r[0] / r[1])[len(runs) // 2]


def _count(ids: list[int], eos: int) -> int:
    return ids.index(eos) + 1 if eos in ids else len(ids)


def run_size(size: str, args, root: Path) -> dict:
    base, adapters = build(size, root, args.adapters, args.rank)
    prompts = make_prompts(args.requests)
    names = [f"lora{i % args.adapters}" for i in range(args.requests)]
    reqs = [GenerationRequest(prompt=p, adapter=a, max_tokens=args.new_tokens) for p, a in zip(prompts, names)]
    base_reqs = [r.model_copy(update={"adapter": None}) for r in reqs]

    out = {}
    eng = make_engine(base, adapters, args.max_batch_size)
    base_eng = make_engine(base, [], args.max_batch_size)
    # Engine and base runs alternate and the median run is kept: this host is shared and noisy.
    runs = [(bench_engine(eng, reqs), bench_engine(base_eng, base_reqs)) for _ in range(args.repeats)]
    out["engine"] = _median([r[0] for r in runs])
    out["base (engine, no adapters)"] = _median([r[1] for r in runs])
    pair_ratios = sorted((n1 / t1) / (n2 / t2) for (t1, n1), (t2, n2) in runs)
    out["paired engine/base"] = pair_ratios[len(pair_ratios) // 2]
    st = eng.stats()
    print(f"  engine: {st['batches_run']} forwards, mean batch {st['mean_batch_size']:.1f} rows; tok/s per run: "
          f"engine {[round(n / dt) for (dt, n), _ in runs]}, base {[round(n / dt) for _, (dt, n) in runs]}", flush=True)
    tok, model = load_peft(base, adapters)
    out["peft mixed generate(adapter_names)"] = bench_peft_mixed(tok, model, prompts, names, args.new_tokens)
    out["naive peft (set_adapter, 1 at a time)"] = bench_naive(tok, model, prompts, names, args.new_tokens)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", choices=[*SIZES, "both"], default="both")
    ap.add_argument("--requests", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--adapters", type=int, default=8)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--max-batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=9, help="engine/base run pairs (medians kept); peft runs are single")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = list(SIZES) if args.size == "both" else [args.size]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.requests} requests, "
          f"{args.adapters} adapters (r={args.rank}), {args.new_tokens} new tokens, greedy")
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            cfg = SIZES[size]
            print(f"\n== {size}: hidden {cfg['hidden_size']}, {cfg['num_layers']} layers ==", flush=True)
            res = run_size(size, args, Path(tmp))
            paired = res.pop("paired engine/base")
            tps = {k: n / dt for k, (dt, n) in res.items()}
            for k, (dt, n) in res.items():
                print(f"  {k:40s} {n:5d} tok {dt:7.2f} s {tps[k]:9.1f} tok/s")
            e = tps["engine"]
            print(f"  engine/naive = {e / tps['naive peft (set_adapter, 1 at a time)']:.2f}x (goal >= 5x)")
            print(f"  engine/base  = {paired:.2f}x (median of the paired back-to-back runs; goal >= 0.75x)")
            print(f"  engine/peft-mixed = {e / tps['peft mixed generate(adapter_names)']:.2f}x")


if __name__ == "__main__":
    main()
