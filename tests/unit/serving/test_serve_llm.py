"""Ray Serve LLM mapping (serving.engine "vllm"): the LLMConfig Ray validates, model ids that resolve to the adapter
store's folders, OpenAI bodies and responses, errors, and the ingress backend over a handle. No vLLM needed."""

from __future__ import annotations

import asyncio
import json

import pytest
from ray.llm._internal.common.utils.lora_utils import get_base_model_id, get_lora_id
from ray.llm._internal.serve.core.configs.llm_config import LLMConfig

from clara_ray.adapters.store import AdapterStore
from clara_ray.serving.catalog import ResolvedModel
from clara_ray.serving.engine import (AdapterNotFound, EngineError, EngineOverloaded, GenerationRequest,
                                      PromptTooLong)
from clara_ray.serving.model_defaults import SamplingDefaults
from clara_ray.serving.serve_llm import (StreamAssembler, completion_body, llm_config, raise_for_error, result_from,
                                         served_model_id, sse_payloads)
from clara_ray.serving.service import RequestRejected
from deployments.serve_llm import ServeLLMBackend

STORE = "s3://clara-adapters/prod"


def _settings(settings, **serving):
    return settings.model_copy(update={
        "storage": settings.storage.model_copy(update={"adapter_store_uri": STORE,
                                                       "object_store_options": {"endpoint_url": "http://s3:9000"}}),
        "serving": settings.serving.model_copy(update={"engine": "vllm", **serving})})


def test_llm_config_is_what_ray_accepts(settings):
    s = _settings(settings, vllm_max_loras=4, vllm_max_cpu_loras=16, max_lora_rank=32, max_prompt_tokens=1024,
                  max_new_tokens=256, num_replicas=3, vllm_tensor_parallel_size=2, vllm_accelerator_type="H100")
    cfg = LLMConfig(**llm_config("/models/base", "base", s))  # Ray's own validation
    assert cfg.model_id == "base" and cfg.model_loading_config.model_source == "/models/base"
    assert cfg.lora_config.dynamic_lora_loading_path == STORE
    assert cfg.lora_config.max_num_adapters_per_replica == s.serving.max_adapters_per_replica
    kw = cfg.engine_kwargs
    assert kw["enable_lora"] and kw["max_loras"] == 4 and kw["max_cpu_loras"] == 16 and kw["max_lora_rank"] == 32
    assert kw["max_model_len"] == 1280 and kw["tensor_parallel_size"] == 2 and "model" not in kw
    assert cfg.accelerator_type == "H100"
    assert cfg.deployment_config["autoscaling_config"]["max_replicas"] == 3
    assert cfg.runtime_env["env_vars"]["AWS_ENDPOINT_URL"] == "http://s3:9000"  # Ray's LoRA download reads it


def test_llm_config_needs_an_object_store_and_a_plain_base_id(settings):
    with pytest.raises(ValueError, match="storage.adapter_store_uri.*object store"):
        llm_config("/models/base", "base", settings)  # the default: a local folder
    with pytest.raises(ValueError, match="without ':'"):
        llm_config("/models/base", "org:base", _settings(settings))


def test_model_ids_resolve_to_the_stored_version_folder(settings):
    """What Ray Serve LLM downloads (`<dynamic_lora_loading_path>/<lora id>`) is the adapter store's folder of
    exactly that version."""
    model = ResolvedModel(requested="baurecht", version_id="v-123abc", ref="baurecht@v3")
    mid = served_model_id("base", model)
    assert mid == "base:baurecht/v-123abc" and get_base_model_id(mid) == "base"
    store = AdapterStore(STORE)
    assert f"{STORE}/{get_lora_id(mid)}" == store.uri_for("baurecht", "v-123abc")
    assert served_model_id("base", ResolvedModel(requested="base", version_id=None, ref=None)) == "base"


def test_chat_requests_send_the_training_template_ids():
    req = GenerationRequest(prompt="hi", prompt_token_ids=[1, 5, 9], max_tokens=4, logprobs=2)
    body = completion_body(req, "base:a/v1", SamplingDefaults(), stream=True, stop_token_ids=[3])
    assert body["prompt"] == [1, 5, 9] and body["model"] == "base:a/v1" and body["logprobs"] == 2
    assert body["stop_token_ids"] == [3] and body["stream_options"] == {"include_usage": True}
    assert completion_body(GenerationRequest(prompt="raw text"), "base", SamplingDefaults(), stream=False)[
        "prompt"] == "raw text"


RESPONSE = {"id": "cmpl-1", "object": "text_completion", "model": "base:a/v1",
            "choices": [{"index": 0, "text": " Bau", "finish_reason": "length", "token_ids": [11, 12],
                         "logprobs": {"tokens": [" B", "au"], "token_logprobs": [-0.5, -1.25],
                                      "top_logprobs": [{" B": -0.5, " X": -2.0}, {"au": -1.25}],
                                      "text_offset": [0, 2]}}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}}


def test_a_completion_response_becomes_our_result():
    res = result_from(RESPONSE, "v1")
    assert (res.text, res.token_ids, res.prompt_tokens, res.completion_tokens) == (" Bau", [11, 12], 7, 2)
    assert res.finish_reason == "length" and res.adapter == "v1"
    assert [(t.token, t.logprob) for t in res.logprobs] == [(" B", -0.5), ("au", -1.25)]
    assert [(t.token, t.logprob) for t in res.logprobs[0].top_logprobs] == [(" B", -0.5), (" X", -2.0)]


@pytest.mark.parametrize("payload, error, says", [
    ({"error": {"message": "Unable to find LoRA adapter config file in folder s3://b/x", "code": 404}},
     AdapterNotFound, "could not load this adapter version"),
    ({"object": "error", "message": "This model's maximum context length is 1024 tokens.", "code": 400},
     PromptTooLong, "maximum context length"),
    ({"error": {"message": "best_of must be 1", "type": "BadRequestError", "code": 400}}, RequestRejected,
     "best_of"),
    ({"error": {"message": "queue full", "code": 503}}, EngineOverloaded, "overloaded"),
    ({"error": {"message": "CUDA error at /opt/vllm/x.py", "type": "InternalServerError", "code": 500}},
     EngineError, "InternalServerError"),
])
def test_replica_errors_become_ours_without_storage_paths(payload, error, says):
    with pytest.raises(error, match=says) as e:
        raise_for_error(payload)
    assert "s3://" not in str(e.value) and "/opt/" not in str(e.value)


def _sse(obj) -> str:
    return f"data: {json.dumps(obj)}\n\n"


STREAM = [
    [_sse({"choices": [{"index": 0, "text": "Bau", "finish_reason": None}]}),
     _sse({"choices": [{"index": 0, "text": "amt", "finish_reason": None}]})],
    [_sse({"choices": [{"index": 0, "text": "", "finish_reason": "stop"}]}),
     _sse({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}}), "data: [DONE]\n\n"],
]


def test_stream_chunks_end_with_the_finish_reason_and_usage():
    chunks = StreamAssembler()
    texts = [c.text for batch in STREAM for p in sse_payloads(batch) if (c := chunks.feed(p)) is not None]
    last = chunks.last()
    assert texts == ["Bau", "amt"]
    assert (last.finish_reason, last.prompt_tokens, last.completion_tokens) == ("stop", 5, 2)


class _Handle:
    """Stands in for a DeploymentHandle of Ray Serve LLM's LLMServer: records the routing and the body."""

    def __init__(self, outputs):
        self.outputs, self.calls = outputs, []

    def options(self, **kw):
        self.calls.append(kw)
        return self

    @property
    def completions(self):
        return self

    def remote(self, body):
        self.calls.append(body)

        async def gen():
            for out in self.outputs:
                yield out
        return gen()


def test_backend_routes_versions_by_multiplexed_id_and_streams():
    model = ResolvedModel(requested="a", version_id="v1", ref="a@v1")
    base = ResolvedModel(requested="base", version_id=None, ref=None)
    handle = _Handle([RESPONSE])
    backend = ServeLLMBackend(handle, base_id="base", defaults=SamplingDefaults(), stop_token_ids=[2],
                              make_request=dict)
    res = asyncio.run(backend.generate(GenerationRequest(prompt="x", max_tokens=2), model))
    assert res.text == " Bau" and handle.calls[0] == {"stream": True, "multiplexed_model_id": "base:a/v1"}
    assert handle.calls[1]["model"] == "base:a/v1" and handle.calls[1]["stream"] is False

    handle = _Handle(STREAM)
    backend.handle = handle

    async def collect():
        return [c async for c in backend.stream(GenerationRequest(prompt="x"), base)]
    chunks = asyncio.run(collect())
    assert handle.calls[0]["multiplexed_model_id"] == ""  # base-model requests spread over every replica
    assert [c.text for c in chunks[:-1]] == ["Bau", "amt"] and chunks[-1].completion_tokens == 2


def test_backend_raises_the_replica_error():
    backend = ServeLLMBackend(_Handle([{"error": {"message": "lora not found", "code": 404}}]), base_id="base",
                              defaults=SamplingDefaults(), stop_token_ids=[], make_request=dict)
    with pytest.raises(AdapterNotFound):
        asyncio.run(backend.generate(GenerationRequest(prompt="x"),
                                     ResolvedModel(requested="a", version_id="v1", ref="a@v1")))
