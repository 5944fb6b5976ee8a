"""`python -m bench.gpu`: the GPU checks in one command, a markdown table per part. No Ray, no vLLM: torch,
transformers, peft (and bitsandbytes for the QLoRA row) on one CUDA GPU; sized to finish within 8 minutes on an
H200 (an estimate until a GPU run is recorded in BENCHMARKS.md; `--quick` is shorter). `--smoke` runs both parts
with a tiny Llama on the CPU in seconds (the unit tests use it)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no "Loading weights" bars between the tables
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout without installing

import torch  # noqa: E402

from . import serve, train  # noqa: E402
from .common import LLAMA_1B, LLAMA_TINY  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="fewer steps, 8 and 64 adapters only, shorter generations")
    mode.add_argument("--smoke", action="store_true", help="tiny Llama on the CPU, seconds; checks the script runs")
    ap.add_argument("--part", choices=["train", "serve", "both"], default="both")
    ap.add_argument("--peak-tflops", type=float, default=989.0,
                    help="dense bf16 peak of the GPU for MFU (H200/H100 SXM: 989)")
    ap.add_argument("--adapters", default=None, help="comma-separated adapter counts (default 8,16,32,64)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if args.smoke:
        device, size, dtype = torch.device("cpu"), LLAMA_TINY, torch.float32
        counts = [2, 4]
        tr = dict(batch=2, seq=32, warmup=1, steps=2)
        w = serve.Workload(requests=8, prompt_tokens=(4, 16), new_tokens=8, repeats=1, naive_budget_s=5)
    else:
        if not torch.cuda.is_available():
            sys.exit("bench.gpu needs a CUDA GPU (torch sees none); `--smoke` runs it on the CPU")
        device, size, dtype = torch.device("cuda"), LLAMA_1B, torch.bfloat16
        counts = [8, 64] if args.quick else [8, 16, 32, 64]
        tr = dict(batch=8, seq=512, warmup=2, steps=3 if args.quick else 8)
        w = serve.Workload(requests=64, prompt_tokens=(32, 128), new_tokens=32 if args.quick else 64,
                           repeats=1 if args.quick else 3, naive_budget_s=8 if args.quick else 15)
    if args.adapters:
        counts = [int(x) for x in args.adapters.split(",")]
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"bench.gpu: torch {torch.__version__} on {gpu}", flush=True)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="clara-bench-gpu-") as tmp:
        if args.part in ("train", "both"):
            t = time.perf_counter()
            print("\n" + train.run(size, device, peak_tflops=args.peak_tflops, workdir=Path(tmp), **tr), flush=True)
            print(f"(training part: {time.perf_counter() - t:.0f} s)", flush=True)
        if args.part in ("serve", "both"):
            t = time.perf_counter()
            print("\n" + serve.run(size, device, dtype, counts, w, Path(tmp)), flush=True)
            print(f"(serving part: {time.perf_counter() - t:.0f} s)", flush=True)
    print(f"\nbench.gpu finished in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
