"""GPU LLM replicas on Ray Serve LLM (`serving.engine: vllm`): Ray's LLMServer deployment, and the ingress's backend.

The backend forwards every generation as an OpenAI completion (clara_ray/serving/serve_llm.py builds the body) to the
`LoraLLM` deployment; the adapter version travels as Serve's multiplexed model id, so Serve routes a request to a
replica that already holds that version, and Ray Serve LLM downloads it from the adapter store otherwise.
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Callable

from ray.serve import Application

from clara_ray.config import ClaraSettings
from clara_ray.serving.catalog import ResolvedModel
from clara_ray.serving.engine import GenerationRequest, GenerationResult, StreamChunk
from clara_ray.serving.model_defaults import SamplingDefaults
from clara_ray.serving.serve_llm import (StreamAssembler, completion_body, llm_config, result_from, served_model_id,
                                         sse_payloads)

LLM_DEPLOYMENT = "LoraLLM"
"""The LLM replicas' deployment name, whichever engine: serve_config.yaml's per-deployment overrides apply to both."""


def serve_llm_deployment(settings: ClaraSettings, base_model_path: str, base_id: str) -> Application:
    """Ray's `build_llm_deployment(LLMConfig(...))` for our settings (needs `ray[llm]`: the GPU image)."""
    from ray.serve.llm import LLMConfig, build_llm_deployment

    return build_llm_deployment(LLMConfig(**llm_config(base_model_path, base_id, settings)),
                                override_serve_options={"name": LLM_DEPLOYMENT})


def completion_request(body: dict) -> Any:
    """Ray Serve LLM's request type for a completion body (vLLM's CompletionRequest)."""
    from ray.serve.llm.openai_api_models import CompletionRequest

    return CompletionRequest(**body)


def _as_dict(out: Any) -> dict:
    return out.model_dump(mode="json") if hasattr(out, "model_dump") else out


class ServeLLMBackend:
    """LLMBackend over Ray Serve LLM's `completions` method. `make_request` turns a body into what the deployment
    takes (Ray's CompletionRequest; CPU tests inject a server that takes the dict itself)."""

    def __init__(self, handle, *, base_id: str, defaults: SamplingDefaults, stop_token_ids: list[int],
                 make_request: Callable[[dict], Any] = completion_request):
        self.handle, self.base_id, self.defaults, self.stop_token_ids = handle, base_id, defaults, stop_token_ids
        self.make_request = make_request

    def _call(self, req: GenerationRequest, model: ResolvedModel, stream: bool):
        model_id = served_model_id(self.base_id, model)
        body = completion_body(req, model_id, self.defaults, stream=stream,
                               stop_token_ids=self.stop_token_ids)
        # Base-model requests are spread over all replicas; an adapter's go where that version is loaded.
        handle = self.handle.options(stream=True, multiplexed_model_id=model_id if model.version_id else "")
        return handle.completions.remote(self.make_request(body))

    async def generate(self, req: GenerationRequest, model: ResolvedModel) -> GenerationResult:
        async for out in self._call(req, model, stream=False):
            return result_from(_as_dict(out), model.version_id)
        raise RuntimeError("the LLM replica returned no response")

    async def stream(self, req: GenerationRequest, model: ResolvedModel) -> AsyncIterator[StreamChunk]:
        chunks = StreamAssembler()
        async for out in self._call(req, model, stream=True):
            # LLMServer batches stream output: a list of `data: {...}` lines (or one line, or a response object).
            for item in out if isinstance(out, list) else [out]:
                for payload in sse_payloads([item]) if isinstance(item, str) else [_as_dict(item)]:
                    chunk = chunks.feed(payload)
                    if chunk is not None:
                        yield chunk
        yield chunks.last()

    async def stats(self) -> dict:
        return {"engine": "vllm", "base_model": self.base_id}
