"""vLLM and Ray Serve LLM config mapping from our settings (no vLLM needed)."""

import pytest

from clara_ray.serving.vllm_engine import serve_llm_config, vllm_engine_args


def test_engine_args_map_lora_limits(settings):
    s = settings.model_copy(update={"serving": settings.serving.model_copy(update={
        "vllm_max_loras": 4, "vllm_max_cpu_loras": 16, "max_lora_rank": 32, "max_prompt_tokens": 1024,
        "max_new_tokens": 256})})
    args = vllm_engine_args("/models/llama", s)
    assert args["enable_lora"] is True and args["max_loras"] == 4 and args["max_cpu_loras"] == 16
    assert args["max_lora_rank"] == 32 and args["max_model_len"] == 1280 and args["model"] == "/models/llama"


def test_serve_llm_config_needs_an_object_store(settings):
    with pytest.raises(ValueError, match="object stores"):
        serve_llm_config("/models/llama", settings)  # local adapter store
    s = settings.model_copy(update={"storage": settings.storage.model_copy(update={
        "adapter_store_uri": "s3://bucket/adapters"})})
    cfg = serve_llm_config("/models/llama", s)
    assert cfg["lora_config"]["dynamic_lora_loading_path"] == "s3://bucket/adapters"
    assert cfg["lora_config"]["max_num_adapters_per_replica"] == s.serving.max_adapters_per_replica
    assert "model" not in cfg["engine_kwargs"] and cfg["engine_kwargs"]["enable_lora"]
