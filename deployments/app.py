"""Serve application builder named by serve_config.yaml (`import_path: deployments.app:build`)."""

from __future__ import annotations

from ray.serve import Application

from clara_ray.config import load_settings
from deployments.api import ClaraApi
from deployments.llm import llm_deployment


def build(args: dict | None = None) -> Application:
    """`args` are config overrides, e.g. {"storage": {"data_dir": "/data"}}; the rest comes from configs/clara.yaml + env."""
    settings = load_settings(**(args or {}))
    data = settings.model_dump(mode="json")
    llm = llm_deployment(settings).options(num_replicas=settings.serving.num_replicas).bind(data)
    return ClaraApi.bind(data, llm)
