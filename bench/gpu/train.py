"""Part (a): LoRA on bf16 weights vs QLoRA on nf4 weights (bitsandbytes), a few optimizer steps each on a
random-initialised Llama: tokens/s, peak memory, MFU. No gradient checkpointing in either, so the two differ
only in how the frozen base weights are stored and multiplied."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch

from .common import (LORA_TARGETS, allocated_gib, build_random_llama, fmt, free_memory, markdown_table, now,
                     param_count, peak_gib, reset_peak, save_model)


@dataclass
class TrainResult:
    name: str
    tokens_per_s: float | None = None
    weights_gib: float | None = None  # allocated once the model is ready, before the first step
    peak_gib: float | None = None
    mfu: float | None = None
    loss: float | None = None
    skipped: str | None = None  # why this row did not run


def _lora(model):
    from peft import LoraConfig, get_peft_model

    cfg = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=list(LORA_TARGETS), task_type="CAUSAL_LM")
    return get_peft_model(model, cfg)


def _steps(model, device, batch: int, seq: int, vocab: int, warmup: int, steps: int) -> tuple[float, float]:
    """Optimizer steps on random token batches; (tokens/s over the timed steps, last loss)."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    gen = torch.Generator().manual_seed(0)
    data = torch.randint(3, vocab, (warmup + steps, batch, seq), generator=gen).to(device)
    model.train()
    t0 = loss = None
    for i in range(warmup + steps):
        if i == warmup:
            t0 = now(device)
        out = model(input_ids=data[i], labels=data[i])
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        loss = out.loss.detach()
    dt = now(device) - t0
    return batch * seq * steps / dt, float(loss)


def _mfu(tokens_per_s: float, n_params: int, device: torch.device, peak_tflops: float) -> float | None:
    # 6 * N FLOPs per token with N = base parameters (the usual approximation; LoRA skips the frozen weights'
    # gradients, so the real count is nearer 4N and this overstates the work done).
    return 6 * n_params * tokens_per_s / (peak_tflops * 1e12) if device.type == "cuda" else None


def run_lora_bf16(size, device, batch, seq, warmup, steps, peak_tflops, save_to: Path | None
                  ) -> tuple[TrainResult, int]:
    """(result, base parameter count)."""
    model, tokenizer = build_random_llama(size, device, torch.bfloat16)
    n = param_count(model)
    if save_to is not None:  # the QLoRA run quantizes these same weights at load
        save_model(model, tokenizer, save_to)
    model = _lora(model)
    reset_peak(device)
    weights = allocated_gib(device)
    tps, loss = _steps(model, device, batch, seq, size["vocab_size"], warmup, steps)
    res = TrainResult("LoRA r=16, bf16 weights", tps, weights, peak_gib(device), _mfu(tps, n, device, peak_tflops),
                      loss)
    del model
    free_memory(device)
    return res, n


def qlora_unavailable(device: torch.device) -> str | None:
    if device.type != "cuda":
        return "skipped: QLoRA nf4 needs CUDA (bitsandbytes' 4-bit kernels); this run is on the CPU"
    if importlib.util.find_spec("bitsandbytes") is None:
        return "skipped: bitsandbytes is not installed (pip install bitsandbytes, or the project's `gpu` extra)"
    return None


def run_qlora_nf4(size, device, batch, seq, warmup, steps, peak_tflops, folder: Path, n_params: int) -> TrainResult:
    name = "QLoRA r=16, nf4 weights (double quant, bf16 compute)"
    reason = qlora_unavailable(device)
    if reason:
        return TrainResult(name, skipped=reason)
    from peft import prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    q = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                           bnb_4bit_compute_dtype=torch.bfloat16)
    model = AutoModelForCausalLM.from_pretrained(folder, quantization_config=q, dtype=torch.bfloat16,
                                                 device_map={"": device.index or 0})
    # The usual QLoRA recipe (norms and embeddings in float32); checkpointing off as in the bf16 run.
    model = _lora(prepare_model_for_kbit_training(model, use_gradient_checkpointing=False))
    reset_peak(device)
    weights = allocated_gib(device)
    tps, loss = _steps(model, device, batch, seq, size["vocab_size"], warmup, steps)
    # MFU against the same bf16 peak and the unquantized parameter count (nf4 params are packed two per byte).
    res = TrainResult(name, tps, weights, peak_gib(device), _mfu(tps, n_params, device, peak_tflops), loss)
    del model
    free_memory(device)
    return res


def run(size: dict, device: torch.device, *, batch: int, seq: int, warmup: int, steps: int, peak_tflops: float,
        workdir: Path) -> str:
    """Both rows; returns the markdown table (with a line on the model and the workload)."""
    folder = workdir / "train_base"
    lora, n = run_lora_bf16(size, device, batch, seq, warmup, steps, peak_tflops,
                            None if qlora_unavailable(device) else folder)
    qlora = run_qlora_nf4(size, device, batch, seq, warmup, steps, peak_tflops, folder, n)
    rows = []
    for r in (lora, qlora):
        if r.skipped:
            rows.append([r.name, r.skipped, "", "", "", ""])
        else:
            rows.append([r.name, fmt(r.tokens_per_s), fmt(r.weights_gib, ".2f"), fmt(r.peak_gib, ".2f"),
                         fmt(None if r.mfu is None else 100 * r.mfu, ".1f"), fmt(r.loss, ".3f")])
    head = (f"Training: random-init Llama, {n / 1e6:,.1f}M params (hidden {size['hidden_size']}, "
            f"{size['num_hidden_layers']} layers), batch {batch} x {seq} tokens, {steps} timed AdamW steps after "
            f"{warmup} warm-up, on {device}; MFU = 6 N tokens/s / {peak_tflops:g} TFLOP/s")
    table = markdown_table(["run", "tokens/s", "model memory GiB", "peak memory GiB", "MFU %", "last loss"], rows)
    return head + "\n\n" + table
