"""Build the engine of one of our LLM replicas (deployments/llm.py): the batched multi-LoRA engine on CPU or CUDA.

`serving.engine: vllm` has no engine here: Ray Serve LLM's own replicas serve it (deployments/serve_llm.py)."""

from __future__ import annotations

from clara_ray.config import ClaraSettings
from clara_ray.model.chat_format import resolve_chat_template
from clara_ray.serving.engine import Engine


def build_engine(settings: ClaraSettings, base_model_path: str) -> Engine:
    s = settings.serving
    if s.engine == "vllm":
        raise ValueError("serving.engine 'vllm' runs on Ray Serve LLM's replicas, not in LoraLLM")
    from clara_ray.serving.batched_engine import BatchedEngine

    # serving.device "auto" resolves inside the engine (placement.resolve_device): cuda when visible, else cpu.
    return BatchedEngine(base_model_path, max_adapters=s.max_adapters_per_replica, max_lora_rank=s.max_lora_rank,
                         max_batch_size=s.max_batch_size, batch_wait_ms=s.batch_wait_ms,
                         max_prompt_tokens=s.max_prompt_tokens, max_new_tokens=s.max_new_tokens, dtype=s.dtype,
                         device=s.device, base_aliases=settings.model.base_model_aliases,
                         chat_template=resolve_chat_template(settings.model.chat_template))
