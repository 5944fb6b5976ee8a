"""vLLM engine for GPU replicas (the `vllm` extra): LoRA enabled, one LoRARequest per request, versions never reloaded in place."""

from __future__ import annotations

import uuid
from typing import AsyncIterator

from clara_ray.config import ClaraSettings
from clara_ray.model.chat_format import closing_token_ids, resolve_chat_template
from clara_ray.model.tokenizer import load_tokenizer
from clara_ray.serving.engine import (AdapterNotFound, Engine, GenerationRequest, GenerationResult, StreamChunk,
                                      TokenLogprob, TopLogprob)
from clara_ray.serving.model_defaults import SamplingDefaults


def vllm_engine_args(base_model_path: str, settings: ClaraSettings) -> dict:
    """Keyword arguments of vllm.AsyncEngineArgs from our config (tested without vLLM installed)."""
    s = settings.serving
    return {
        "model": base_model_path,
        "enable_lora": True,
        "max_loras": s.vllm_max_loras,
        "max_lora_rank": s.max_lora_rank,
        "max_cpu_loras": max(s.vllm_max_cpu_loras, s.vllm_max_loras),
        "gpu_memory_utilization": s.vllm_gpu_memory_utilization,
        "dtype": s.dtype,
        "max_model_len": s.max_prompt_tokens + s.max_new_tokens,
        # Adapter versions are immutable (new id per version), so prefix caching never serves stale KV.
        "enable_prefix_caching": True,
    }


def sampling_kwargs(req: GenerationRequest, defaults: SamplingDefaults, stop_token_ids: list[int] = ()) -> dict:
    """Keyword arguments of vllm.SamplingParams: unset fields take the model's generation_config (as the CPU engine);
    `stop_token_ids`: the chat template's closing token, which a base model's generation_config may not list."""
    temperature, top_p, repetition_penalty = defaults.resolve(req)
    return {"max_tokens": req.max_tokens, "temperature": temperature, "top_p": top_p,
            "repetition_penalty": repetition_penalty, "stop": req.stop, "seed": req.seed,
            "presence_penalty": req.presence_penalty, "frequency_penalty": req.frequency_penalty,
            "logprobs": req.logprobs, "stop_token_ids": list(stop_token_ids) or None}


def serve_llm_config(base_model_path: str, settings: ClaraSettings) -> dict:
    """An `ray.serve.llm.LLMConfig` as a dict, for deployments that use Ray Serve LLM directly.

    Its dynamic LoRA loading reads `<dynamic_lora_loading_path>/<adapter>` from an object store,
    so the adapter store must be s3://, gs://, abfss:// or azure://.
    """
    store = settings.storage.adapter_store_uri
    if not store.split("://")[0] in ("s3", "gs", "abfss", "azure"):
        raise ValueError(f"Ray Serve LLM loads LoRA adapters only from object stores; adapter_store_uri is {store!r}")
    s = settings.serving
    return {
        "model_loading_config": {"model_id": "base", "model_source": base_model_path},
        "lora_config": {"dynamic_lora_loading_path": store, "max_num_adapters_per_replica": s.max_adapters_per_replica},
        "engine_kwargs": {k: v for k, v in vllm_engine_args(base_model_path, settings).items() if k != "model"},
        "deployment_config": {"autoscaling_config": {"min_replicas": 1, "max_replicas": s.num_replicas}},
    }


def _prompt(req: GenerationRequest):
    # Chat routes send the ids training used (model/chat_format.py); vLLM tokenises raw completion prompts itself.
    return {"prompt_token_ids": req.prompt_token_ids} if req.prompt_token_ids is not None else req.prompt


def _finish(reason: str | None) -> str:
    return "length" if reason == "length" else "stop"


def _logprobs(o, ids: list[int], top: int | None, offset: int = 0) -> list[TokenLogprob] | None:  # pragma: no cover
    """vLLM's per-position {token_id: Logprob} dicts (chosen token + the top ones) as our TokenLogprob list."""
    if top is None or o.logprobs is None:
        return None
    out = []
    for pos, tid in enumerate(ids):
        entry = o.logprobs[offset + pos]
        ranked = sorted(entry.items(), key=lambda kv: kv[1].rank or 0)
        out.append(TokenLogprob(token=entry[tid].decoded_token or "", logprob=entry[tid].logprob,
                                top_logprobs=[TopLogprob(token=lp.decoded_token or "", logprob=lp.logprob)
                                              for _, lp in ranked[:top]]))
    return out


class VllmEngine(Engine):  # pragma: no cover - needs vLLM and a GPU; see tests/gpu
    def __init__(self, base_model_path: str, settings: ClaraSettings):
        from vllm import AsyncEngineArgs, AsyncLLMEngine

        self.engine = AsyncLLMEngine.from_engine_args(AsyncEngineArgs(**vllm_engine_args(base_model_path, settings)))
        self._adapters: dict[str, tuple[int, str]] = {}
        self._next_int = 1
        self._defaults = SamplingDefaults.from_model_folder(base_model_path)
        tok = load_tokenizer(base_model_path, resolve_chat_template(settings.model.chat_template))
        self._stop_ids = closing_token_ids(tok)

    def _lora(self, adapter: str | None):
        if adapter is None:
            return None
        from vllm.lora.request import LoRARequest

        if adapter not in self._adapters:
            raise AdapterNotFound(f"adapter {adapter} not loaded")
        int_id, path = self._adapters[adapter]
        return LoRARequest(adapter, int_id, path)

    def _params(self, req: GenerationRequest):
        from vllm import SamplingParams

        return SamplingParams(**sampling_kwargs(req, self._defaults, self._stop_ids))

    async def generate(self, req: GenerationRequest) -> GenerationResult:
        final = None
        async for out in self.engine.generate(_prompt(req), self._params(req), uuid.uuid4().hex,
                                              lora_request=self._lora(req.adapter)):
            final = out
        o = final.outputs[0]
        return GenerationResult(text=o.text, token_ids=list(o.token_ids), completion_tokens=len(o.token_ids),
                                prompt_tokens=len(final.prompt_token_ids), finish_reason=_finish(o.finish_reason),
                                adapter=req.adapter, logprobs=_logprobs(o, list(o.token_ids), req.logprobs))

    async def stream(self, req: GenerationRequest) -> AsyncIterator[StreamChunk]:
        sent, sent_tokens, out = 0, 0, None
        async for out in self.engine.generate(_prompt(req), self._params(req), uuid.uuid4().hex,
                                              lora_request=self._lora(req.adapter)):
            o = out.outputs[0]
            new_ids = list(o.token_ids)[sent_tokens:]
            if len(o.text) > sent or new_ids:
                yield StreamChunk(text=o.text[sent:], logprobs=_logprobs(o, new_ids, req.logprobs, sent_tokens))
                sent, sent_tokens = len(o.text), len(o.token_ids)
        o = out.outputs[0]
        yield StreamChunk(finish_reason=_finish(o.finish_reason), prompt_tokens=len(out.prompt_token_ids),
                          completion_tokens=len(o.token_ids))

    def load_adapter(self, adapter_id: str, path: str, *, expected_base: str | None = None) -> None:
        # A new version always gets a new int id: vLLM never sees the same id with other weights.
        self._adapters[adapter_id] = (self._next_int, path)
        self._next_int += 1

    def unload_adapter(self, adapter_id: str) -> None:
        if adapter_id not in self._adapters:
            raise AdapterNotFound(adapter_id)
        int_id, _ = self._adapters.pop(adapter_id)
        # Fire-and-forget: vLLM drops it from its GPU/CPU LoRA caches.
        import asyncio

        asyncio.ensure_future(self.engine.remove_lora(int_id))

    def loaded_adapters(self) -> list[str]:
        return list(self._adapters)

    def stats(self) -> dict:
        return {"engine": "vllm", "adapters": list(self._adapters)}
