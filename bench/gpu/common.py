"""Shared parts of the GPU checks: model sizes, a random-initialised Llama saved with a tokenizer, CUDA memory and
timing helpers, markdown tables."""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from pathlib import Path

import torch

# ~1B Llama (the figures); vocab 32000 while the saved tokenizer is a small byte-level BPE: ids beyond
# it decode to nothing, which does not matter for throughput.
LLAMA_1B = dict(hidden_size=2048, num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=32,
                intermediate_size=5632, vocab_size=32000)
LLAMA_TINY = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                  intermediate_size=128, vocab_size=512)
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def llama_config(size: dict, tokenizer):
    from transformers import LlamaConfig

    return LlamaConfig(**size, max_position_embeddings=2048, tie_word_embeddings=False,
                       bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                       pad_token_id=tokenizer.pad_token_id)


def build_random_llama(size: dict, device: torch.device, dtype: torch.dtype, seed: int = 0):
    """A random-initialised LlamaForCausalLM of `size` on `device`, and the project's test tokenizer."""
    from transformers import LlamaForCausalLM

    from clara_ray.serving.testing import build_tokenizer

    tokenizer = build_tokenizer(512)
    torch.manual_seed(seed)
    with torch.device(device):
        model = LlamaForCausalLM(llama_config(size, tokenizer)).to(dtype)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model, tokenizer


def save_model(model, tokenizer, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def param_count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def now(device: torch.device) -> float:
    """Wall time after every queued kernel has finished."""
    sync(device)
    return time.perf_counter()


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        sync(device)
        torch.cuda.reset_peak_memory_stats(device)


def peak_gib(device: torch.device) -> float | None:
    """Peak CUDA memory allocated by tensors since the last reset_peak (None on the CPU)."""
    if device.type != "cuda":
        return None
    sync(device)
    return torch.cuda.max_memory_allocated(device) / 2**30


def allocated_gib(device: torch.device) -> float | None:
    return torch.cuda.memory_allocated(device) / 2**30 if device.type == "cuda" else None


def free_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def fmt(value, spec: str = ",.0f", none: str = "n/a") -> str:
    return none if value is None else format(value, spec)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
