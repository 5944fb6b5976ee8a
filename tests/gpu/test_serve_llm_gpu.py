"""GPU smoke test of `serving.engine: vllm`: the real app (ClaraApi over Ray Serve LLM's vLLM replicas) serves the base
model and an adapter version from an S3 store, through the openai SDK. Runs where vLLM, `ray[llm]` and a CUDA GPU
exist (cluster/Dockerfile.gpu); skipped elsewhere with the reason."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.gpu


def _gpu_reason() -> str | None:
    if importlib.util.find_spec("vllm") is None:
        return "vLLM is not installed (it has no CPU wheel; the GPU image cluster/Dockerfile.gpu has it)"
    import torch

    if not torch.cuda.is_available():
        return "no CUDA GPU on this machine"
    return None


@pytest.mark.skipif(_gpu_reason() is not None, reason=_gpu_reason() or "")
@pytest.mark.timeout(1200)
def test_vllm_replicas_serve_base_and_an_adapter_version(tmp_path):
    import httpx
    import openai
    import ray
    from ray import serve

    from clara_ray.config import load_settings
    from clara_ray.serving.testing import build_random_lora
    from clara_ray.training.pipeline import base_model_path
    from deployments.app import build
    from tests.s3_server import s3_server

    with s3_server("gpu-adapters") as options:
        overrides = {"storage": {"data_dir": str(tmp_path), "adapter_store_uri": "s3://gpu-adapters/adapters",
                                 "object_store_options": options},
                     "serving": {"engine": "vllm", "adapter_import_roots": [str(tmp_path)],
                                 "vllm_gpu_memory_utilization": 0.3},
                     "router": {"use_embeddings": False}, "training": {"warm_pool_size": 0}}
        base = base_model_path(load_settings(**overrides))
        lora = build_random_lora(base, tmp_path / "lora", r=8, lora_alpha=16, seed=1)
        ray.init(runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1"}})
        try:
            serve.start(http_options={"host": "127.0.0.1", "port": 8765})
            serve.run(build(overrides), name="clara", route_prefix="/")
            http = httpx.Client(base_url="http://127.0.0.1:8765", timeout=300)
            assert http.post("/api/serving/load_adapter", json={"name": "gpulaw", "path": str(lora)}).status_code == 201
            assert http.post("/api/serving/activate_adapter", json={"adapter": "gpulaw@v1"}).status_code == 200
            client = openai.OpenAI(base_url="http://127.0.0.1:8765/v1", api_key="unused", max_retries=0)
            for model in (Path(base).name, "gpulaw"):
                out = client.completions.create(model=model, prompt="Baugenehmigung", max_tokens=8, temperature=0)
                assert out.usage.completion_tokens >= 1
            chat = client.chat.completions.create(model="gpulaw", messages=[{"role": "user", "content": "Was gilt?"}],
                                                  max_tokens=8, stream=True)
            assert "".join(c.choices[0].delta.content or "" for c in chat if c.choices) is not None
        finally:
            serve.shutdown()
            ray.shutdown()
