"""Serve application builder named by serve_config.yaml (`import_path: deployments.app:build`)."""

from __future__ import annotations

from ray.serve import Application

from clara_ray.config import load_settings
from clara_ray.training.pipeline import base_model_id, base_model_path
from deployments.api import ClaraApi
from deployments.llm import llm_deployment
from deployments.serve_llm import serve_llm_deployment


def build(args: dict | None = None) -> Application:
    """`args` are config overrides, e.g. {"storage": {"data_dir": "/data"}}; the rest comes from configs/clara.yaml + env.

    The LLM replicas are ours (the batched multi-LoRA engine, on CPU or CUDA) or, with `serving.engine: vllm`, Ray
    Serve LLM's vLLM replicas; ClaraApi is the ingress for both."""
    settings = load_settings(**(args or {}))
    data = settings.model_dump(mode="json")
    if settings.serving.engine == "vllm":
        base = base_model_path(settings)
        llm = serve_llm_deployment(settings, base, base_model_id(base))
    else:
        llm = llm_deployment(settings).options(num_replicas=settings.serving.num_replicas).bind(data)
    return ClaraApi.bind(data, llm)
