"""Build the configured engine for an LLM replica: the CPU multi-LoRA engine or vLLM."""

from __future__ import annotations

from clara_ray.config import ClaraSettings
from clara_ray.model.chat_format import resolve_chat_template
from clara_ray.serving.engine import Engine


def build_engine(settings: ClaraSettings, base_model_path: str) -> Engine:
    s = settings.serving
    if s.engine == "vllm":
        from clara_ray.serving.vllm_engine import VllmEngine

        return VllmEngine(base_model_path, settings)
    from clara_ray.serving.cpu_engine import CpuEngine

    return CpuEngine(base_model_path, max_adapters=s.max_adapters_per_replica, max_lora_rank=s.max_lora_rank,
                     max_batch_size=s.max_batch_size, batch_wait_ms=s.batch_wait_ms,
                     max_prompt_tokens=s.max_prompt_tokens, max_new_tokens=s.max_new_tokens, dtype=s.dtype,
                     base_aliases=settings.model.base_model_aliases,
                     chat_template=resolve_chat_template(settings.model.chat_template))
