"""Where the batched engine runs: the torch device named by `serving.device` and the weight dtype allowed there."""

from __future__ import annotations

import re

import torch

from .model_defaults import model_dtype

# What `serving.device` accepts; config.py checks the same pattern at settings load.
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """`auto` -> cuda when a CUDA GPU is visible, else cpu; `cpu`, `cuda`, `cuda:N` as named.

    Raises ValueError naming `serving.device` for anything else, or for a CUDA device this machine lacks."""
    if isinstance(spec, torch.device):
        spec = str(spec)
    spec = spec.strip().lower()
    if not DEVICE_PATTERN.fullmatch(spec):
        raise ValueError(f"serving.device must be auto, cpu, cuda or cuda:N, not {spec!r}")
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError(f"serving.device is {spec!r} but torch sees no CUDA GPU on this machine "
                         f"(torch {torch.__version__}); set serving.device to auto or cpu")
    device = torch.device(spec)
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise ValueError(f"serving.device is {spec!r} but this machine has {count} CUDA device(s)")
    return device


def engine_dtype(base: str, dtype: str | torch.dtype, device: torch.device = torch.device("cpu")) -> torch.dtype:
    """Weight dtype of the engine on `device`. `auto`: config.json's dtype (float32 if unset).

    CUDA runs float32, bfloat16 and float16. The CPU runs float32 and bfloat16 only: a float16 checkpoint under
    `auto` runs in float32 there, and an explicit float16 is refused (CPU half-precision matmuls are slow and
    lose accuracy)."""
    on_cpu = device.type == "cpu"
    allowed = (torch.float32, torch.bfloat16) if on_cpu else (torch.float32, torch.bfloat16, torch.float16)
    if dtype == "auto":
        dtype = model_dtype(base) or "float32"
        dtype = dtype if getattr(torch, dtype, None) in allowed else "float32"
    resolved = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    if resolved not in allowed:
        where = "float16 needs serving.device cuda" if on_cpu else "use float32, bfloat16 or float16"
        raise ValueError(f"serving.dtype {resolved} is not supported on {device} ({where})")
    return resolved


def forward_overhead_tokens(n_params: int, num_layers: int, device: torch.device) -> float:
    """Fixed cost of one forward in token-rows, for splitting prefills by prompt length (batcher.prefill_groups).

    Rough models. CPU: ~(2 + 1/layer) ms of Python/dispatch per forward at ~50 GFLOP/s, vs 2 FLOPs per weight
    per token (tiny models: hundreds of token-rows -> one prefill forward; 13M params, 4 layers: ~12).
    CUDA: ~(1 + 0.3/layer) ms of launch overhead per forward at ~200 TFLOP/s sustained, so padding is cheap and
    prompts of a batch nearly always share one forward (1B params, 16 layers: ~600 token-rows)."""
    overhead_s, flops = (2e-3 + 1e-3 * num_layers, 5e10) if device.type == "cpu" else (1e-3 + 3e-4 * num_layers, 2e14)
    return overhead_s * flops / (2 * max(1, n_params))
