"""GPU serving on Ray Serve LLM: the LLMConfig from our settings, and our requests/results as its OpenAI bodies.

With `serving.engine: vllm` the LLM replicas are Ray's `LLMServer` (vLLM inside); our ingress keeps aliases, the
router, auth, canaries, the completion log and feedback, and forwards each generation as an OpenAI completion whose
`model` names the exact adapter version: `<base id>:<adapter name>/<version id>`. Ray Serve LLM loads that LoRA from
`<dynamic_lora_loading_path>/<adapter name>/<version id>`, which is where the adapter store keeps it
(AdapterStore.uri_for), so an immutable version is what gets loaded, never "the latest" under a name.

Nothing here imports vLLM or Ray Serve LLM: bodies and results are plain dicts (tested on CPU), and the deployment
shell (deployments/serve_llm.py) turns them into Ray's request types.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator

from clara_ray.config import ClaraSettings
from clara_ray.serving.catalog import ResolvedModel
from clara_ray.serving.engine import (AdapterNotFound, EngineError, EngineOverloaded, GenerationRequest,
                                      GenerationResult, PromptTooLong, StreamChunk, TokenLogprob, TopLogprob)
from clara_ray.serving.model_defaults import SamplingDefaults
from clara_ray.serving.service import RequestRejected

OBJECT_STORES = ("s3", "gs", "abfss", "azure")
"""URI schemes Ray Serve LLM downloads LoRA adapters from (its `dynamic_lora_loading_path`)."""


def engine_kwargs(settings: ClaraSettings) -> dict:
    """vLLM engine arguments (LLMConfig.engine_kwargs) from our serving settings."""
    s = settings.serving
    return {
        "enable_lora": True,
        "max_loras": s.vllm_max_loras,
        "max_lora_rank": s.max_lora_rank,
        "max_cpu_loras": max(s.vllm_max_cpu_loras, s.vllm_max_loras),
        "gpu_memory_utilization": s.vllm_gpu_memory_utilization,
        "tensor_parallel_size": s.vllm_tensor_parallel_size,
        "dtype": s.dtype,
        "max_model_len": s.max_prompt_tokens + s.max_new_tokens,
        # Adapter versions are immutable (a new id per version), so prefix caching never serves stale KV.
        "enable_prefix_caching": True,
    }


def check_base_id(base_id: str) -> str:
    """Ray Serve LLM splits model ids at the first ':' (base before it, LoRA after), so the base id has none."""
    if not base_id or ":" in base_id:
        raise ValueError(f"model.base_model {base_id!r}: Ray Serve LLM needs a base model id without ':'")
    return base_id


def llm_config(base_model_path: str, base_id: str, settings: ClaraSettings) -> dict:
    """Keyword arguments of `ray.serve.llm.LLMConfig` for the LLM replicas.

    LoRA adapters are downloaded per request from the adapter store, so the store must be an object store."""
    store = settings.storage.adapter_store_uri.rstrip("/")
    scheme, _, rest = store.partition("://")
    if not rest or scheme not in OBJECT_STORES:
        raise ValueError(f"storage.adapter_store_uri: serving.engine 'vllm' (Ray Serve LLM) loads LoRA adapters "
                         f"only from an object store ({', '.join(s + '://' for s in OBJECT_STORES)}), not {store!r}")
    s = settings.serving
    cfg: dict[str, Any] = {
        "model_loading_config": {"model_id": check_base_id(base_id), "model_source": base_model_path},
        "lora_config": {"dynamic_lora_loading_path": store,
                        "max_num_adapters_per_replica": s.max_adapters_per_replica},
        "engine_kwargs": engine_kwargs(settings),
        "deployment_config": {"autoscaling_config": {"min_replicas": 1, "max_replicas": s.num_replicas}},
        "log_engine_metrics": True,
    }
    if s.vllm_accelerator_type:
        cfg["accelerator_type"] = s.vllm_accelerator_type
    endpoint = settings.storage.object_store_options.get("endpoint_url")
    if endpoint:  # an S3-compatible store (MinIO, R2, Ceph): Ray downloads LoRAs with pyarrow, which reads the env
        cfg["runtime_env"] = {"env_vars": {"AWS_ENDPOINT_URL": str(endpoint)}}
    return cfg


def served_model_id(base_id: str, model: ResolvedModel) -> str:
    """The id Ray Serve LLM serves a resolved model under: the base id, or `<base>:<name>/<version id>`."""
    if model.version_id is None:
        return base_id
    name = (model.ref or model.requested).split("@")[0]
    return f"{base_id}:{name}/{model.version_id}"


def completion_body(req: GenerationRequest, model_id: str, defaults: SamplingDefaults, *, stream: bool,
                    stop_token_ids: Iterable[int] = ()) -> dict:
    """The OpenAI completion body for one request. Sampling fields the request leaves unset take the base model's
    generation_config (`defaults`), as on the batched engine, whatever vLLM's own default. Chat routes send the
    token ids they encoded with the training chat template, so vLLM never applies a template of its own.
    `stop_token_ids`: the template's end-of-turn token, which a base model's generation_config may not list."""
    temperature, top_p, repetition_penalty = defaults.resolve(req)
    body: dict[str, Any] = {
        "model": model_id,
        "prompt": list(req.prompt_token_ids) if req.prompt_token_ids is not None else req.prompt,
        "max_tokens": req.max_tokens,
        "temperature": temperature,
        "top_p": top_p,
        "repetition_penalty": repetition_penalty,
        "presence_penalty": req.presence_penalty,
        "frequency_penalty": req.frequency_penalty,
        "stream": stream,
        "return_token_ids": True,  # vLLM >= 0.10.2: the generated ids, as the batched engine returns them
    }
    for field in ("stop", "seed", "logprobs"):
        if getattr(req, field) is not None:
            body[field] = getattr(req, field)
    if stop_token_ids:
        body["stop_token_ids"] = list(stop_token_ids)
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


def raise_for_error(payload: dict) -> None:
    """An OpenAI error body from the LLM replica as our engine errors (the ingress maps those to HTTP codes).

    vLLM's ErrorResponse is `{"error": {message, type, code}}`, older releases `{"object": "error", message, ...}`."""
    if isinstance(payload.get("error"), dict):
        err = payload["error"]
    elif payload.get("object") == "error":
        err = payload
    else:
        return
    message = str(err.get("message") or "")[:500]
    code = err.get("code")
    code = int(code) if isinstance(code, int) or (isinstance(code, str) and code.isdigit()) else None
    low = message.lower()
    # Ray's LoRA-loading messages name bucket folders: clients get our own words, never a storage path.
    if code == 404 or ("lora" in low and ("not found" in low or "unable to find" in low)):
        raise AdapterNotFound("the LLM replicas could not load this adapter version from the adapter store")
    if "context length" in low or "maximum model length" in low:
        raise PromptTooLong(message)  # vLLM's own words: token counts only
    if code in (429, 503):
        raise EngineOverloaded("the LLM replicas are overloaded; retry later")
    if code == 400:
        raise RequestRejected(f"the LLM engine refused the request: {message}")
    raise EngineError(f"the LLM replica failed ({err.get('type') or 'error'})")


def _logprobs(lp: dict | None) -> list[TokenLogprob] | None:
    """OpenAI completion logprobs ({tokens, token_logprobs, top_logprobs}) as our per-token list."""
    if not lp or lp.get("tokens") is None:
        return None
    tops = lp.get("top_logprobs") or [None] * len(lp["tokens"])
    return [TokenLogprob(token=tok, logprob=float(val if val is not None else float("-inf")),
                         top_logprobs=[TopLogprob(token=t, logprob=float(v)) for t, v in (top or {}).items()])
            for tok, val, top in zip(lp["tokens"], lp["token_logprobs"], tops)]


def _finish(reason: str | None) -> str:
    return "length" if reason == "length" else "stop"


def result_from(payload: dict, adapter: str | None) -> GenerationResult:
    """A non-streamed completion response as our result."""
    raise_for_error(payload)
    choice = payload["choices"][0]
    usage = payload.get("usage") or {}
    ids = list(choice.get("token_ids") or [])
    return GenerationResult(text=choice.get("text") or "", token_ids=ids,
                            completion_tokens=int(usage.get("completion_tokens", len(ids))),
                            prompt_tokens=int(usage.get("prompt_tokens", 0)),
                            finish_reason=_finish(choice.get("finish_reason")), adapter=adapter,
                            logprobs=_logprobs(choice.get("logprobs")))


def sse_payloads(lines: Iterable[str]) -> Iterator[dict]:
    """The JSON objects of server-sent-event lines (`data: {...}`), without `[DONE]`."""
    for line in lines:
        for part in line.split("\n"):
            part = part.strip()
            if part.startswith("data:") and part[5:].strip() != "[DONE]":
                yield json.loads(part[5:].strip())


class StreamAssembler:
    """Streamed completion chunks as our StreamChunks: text deltas as they come, then one last chunk with the finish
    reason and the token counts (vLLM sends the usage in a final chunk of its own when `include_usage` is set)."""

    def __init__(self):
        self.finish_reason: str | None = None
        self.prompt_tokens = self.completion_tokens = 0

    def feed(self, payload: dict) -> StreamChunk | None:
        raise_for_error(payload)
        if payload.get("usage"):
            self.prompt_tokens = int(payload["usage"].get("prompt_tokens", 0))
            self.completion_tokens = int(payload["usage"].get("completion_tokens", 0))
        for choice in payload.get("choices") or []:
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
            text, lps = choice.get("text") or "", _logprobs(choice.get("logprobs"))
            if text or lps:
                return StreamChunk(text=text, logprobs=lps)
        return None

    def last(self) -> StreamChunk:
        return StreamChunk(finish_reason=_finish(self.finish_reason), prompt_tokens=self.prompt_tokens,
                           completion_tokens=self.completion_tokens)
