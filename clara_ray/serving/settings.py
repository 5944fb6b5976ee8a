"""Serving settings: the LLM replicas (engine, device, adapters per replica, limits), the completion log, the router."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from clara_ray.server_paths import check_root_entry
from clara_ray.settings_section import Section


class CompletionLogSettings(Section):
    enabled: bool = True
    """Store every generation served (OpenAI and native routes, streamed or not) in the `completions` table."""
    sample_rate: float = Field(1.0, ge=0, le=1)
    """Share of generations stored, decided per generation (1 = all, 0 = none)."""
    retention_days: int = Field(30, ge=1)
    """Stored generations older than this are deleted by the writer (at start and hourly)."""
    queue_size: int = Field(10000, ge=1)
    """Generations waiting to be written; beyond it new ones are dropped (clara_completion_log_dropped_total)."""
    batch_size: int = Field(200, ge=1)
    """Most generations written in one transaction."""
    flush_interval_seconds: float = Field(0.5, gt=0)
    """How long the writer waits for a batch to fill before writing what it has."""


def _check_serving_device(value: str) -> str:
    """serving.device: auto, cpu, cuda or cuda:N (placement.DEVICE_PATTERN; torch is not imported here)."""
    v = value.strip().lower()
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", v):
        raise ValueError(f"serving.device must be auto, cpu, cuda or cuda:N, not {value!r}")
    return v


class ServingSettings(Section):
    engine: Literal["batched", "vllm"] = "batched"
    """Inference engine of the LLM replicas: "batched" (transformers + the project's batched multi-LoRA layers:
    many adapters decoded in one batch, on `device`, CPU or CUDA) or "vllm" (GPU images, the `vllm` extra). The
    former name "cpu" is still accepted and means "batched"."""
    _engine_alias = field_validator("engine", mode="before")(lambda cls, v: "batched" if v == "cpu" else v)
    device: str = "auto"
    """Torch device of the batched engine: "auto" (cuda when torch sees a CUDA GPU, else cpu), "cpu", "cuda" or
    "cuda:N". Naming a CUDA device on a machine without one fails when the engine starts. Ignored by vLLM."""
    _device = field_validator("device")(lambda cls, v: _check_serving_device(v))
    num_replicas: int = Field(1, ge=1)
    """LLM replicas (serve_config.yaml's value wins when deployed from it)."""
    max_adapters_per_replica: int = Field(8, ge=1)
    """Adapters one replica holds at once: sizes both Serve's multiplexing LRU (which routes requests to replicas
    holding their adapter and unloads the least recently used one) and the engine's slots, so there is one number."""
    max_lora_rank: int = Field(64, ge=1)
    """Largest adapter rank a replica accepts; larger ones are refused at load."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Weights and LoRA dtype of the replicas. "auto" = the model's `torch_dtype`/`dtype` from config.json (float32 if
    unset), so real bf16 checkpoints serve in bf16 (half the memory; CPUs without bf16 instructions run it slower:
    set "float32" there). On CUDA (batched engine or vLLM) float32, bfloat16 and float16 all run; on the CPU a
    float16 model under "auto" runs in float32 and an explicit "float16" is refused when the engine starts."""
    max_batch_size: int = Field(16, ge=1)
    """Rows decoded together in one forward pass."""
    batch_wait_ms: float = Field(5.0, ge=0)
    """How long the batcher waits to collect more requests before a step."""
    max_prompt_tokens: int = Field(768, ge=8)
    """Longest prompt accepted (400 beyond)."""
    max_new_tokens: int = Field(256, ge=1)
    """Largest `max_tokens` accepted (400 beyond)."""
    alias_ttl_seconds: float = Field(1.0, ge=0)
    """How long an alias -> version lookup is cached. Only a fallback: activate, rollback and the learning loop's
    promotion are pushed to every replica (revision hub, `revision_*` below); this bounds how long a replica can
    miss one (hub restarting, or a training job's own `activate` setting, which is not pushed)."""
    revision_ack_timeout_seconds: float = Field(2.0, gt=0)
    """Activate, rollback and router changes return once every live API and LLM replica applied them, or after
    this long (the response counts `replicas_updated` and `replicas_pending`)."""
    revision_poll_seconds: float = Field(30.0, gt=0)
    """Longest a replica's long-poll of the revision hub stays open before it is renewed."""
    revision_stale_after_seconds: float = Field(60.0, gt=0)
    """A replica not heard from for this long (it died without leaving) is no longer waited for."""
    adapter_import_roots: list[str] = ["{data_dir}/imports"]
    """Folders (or URI prefixes) `POST /api/serving/load_adapter` may import PEFT folders from, after symlinks are
    resolved; elsewhere is HTTP 403. Same entry rules as `training.data_roots`."""
    _roots = field_validator("adapter_import_roots")(lambda cls, v: [check_root_entry(e) for e in v])
    vllm_max_loras: int = Field(8, ge=1)
    """vLLM: adapters in one batch (GPU slots)."""
    vllm_max_cpu_loras: int = Field(32, ge=1)
    """vLLM: adapters cached in host memory."""
    vllm_gpu_memory_utilization: float = Field(0.85, gt=0, le=1)
    """vLLM: share of GPU memory for weights and KV cache."""
    vllm_tensor_parallel_size: int = Field(1, ge=1)
    """vLLM: GPUs one LLM replica spans (Ray Serve LLM reserves them in the replica's placement group)."""
    vllm_accelerator_type: str | None = Field(None, max_length=40)
    """vLLM: the GPU type replicas are placed on (Ray's accelerator_type, e.g. "H100", "L4"); None = any GPU."""
    completion_log: CompletionLogSettings = CompletionLogSettings()
    """Durable log of the generations served (feedback by completion id, per-version rating figures)."""


class RouterSettings(Section):
    default_adapter: str | None = None
    """Adapter used when the router is not confident (None = base model)."""
    hard_domain: float = Field(1.5, ge=0)
    """Keyword score at which a domain is chosen outright."""
    conf_low: float = Field(0.55, ge=0, le=1)
    """Below this confidence the default adapter is used."""
    conf_high: float = Field(0.85, ge=0, le=1)
    """At or above this confidence the choice is reported as certain."""
    use_embeddings: bool = True
    """Blend embedding similarity (offline all-MiniLM-L6-v2) with keyword scores."""
    exploration: float = Field(0.0, ge=0, le=1)
    """Share of medium-confidence requests routed to the runner-up (to gather feedback on it)."""
