"""A stand-in for Ray Serve LLM's LLMServer on CPU (vLLM has no CPU wheel): the same `completions` protocol, the same
LoRA resolution (multiplexed model id `<base>:<lora id>` → download `<dynamic_lora_loading_path>/<lora id>`, with
Ray's own id functions), and real generation by our batched engine instead of vLLM."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from ray import serve
from ray.llm._internal.common.utils.lora_utils import clean_model_id, get_lora_id

from clara_ray.adapters.store import AdapterStore
from clara_ray.serving import BatchedEngine, GenerationRequest


def _response(model: str, text: str, finish: str, prompt_tokens: int, ids: list[int]) -> dict:
    return {"id": "cmpl-fake", "object": "text_completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "text": text, "finish_reason": finish, "token_ids": ids, "logprobs": None}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(ids),
                      "total_tokens": prompt_tokens + len(ids)}}


@serve.deployment(name="LoraLLM", ray_actor_options={"num_cpus": 0.2})
class FakeServeLLM:
    def __init__(self, base_model_path: str, lora_path: str, store_options: dict):
        self.engine = BatchedEngine(base_model_path, max_adapters=4)
        self.store = AdapterStore(lora_path, store_options)  # its filesystem stands in for Ray's cloud download
        self.lora_path = lora_path.rstrip("/")
        self.cache = Path(tempfile.mkdtemp(prefix="fake-serve-llm-"))
        self.downloaded: list[str] = []
        self.bodies: list[dict] = []

    @serve.multiplexed(max_num_models_per_replica=4)
    async def _load(self, model_id: str) -> str:
        lora_id = get_lora_id(model_id)
        local = self.cache / clean_model_id(lora_id)
        self.store.fs.get(f"{self.store.root}/{lora_id}/", str(local), recursive=True)
        self.engine.load_adapter(model_id, str(local))
        self.downloaded.append(f"{self.lora_path}/{lora_id}")
        return model_id

    async def completions(self, body: dict):
        self.bodies.append(body)
        model_id = serve.get_multiplexed_model_id()
        adapter = await self._load(model_id) if model_id else None
        prompt = body["prompt"]
        req = GenerationRequest(
            prompt="" if isinstance(prompt, list) else prompt, prompt_token_ids=prompt if isinstance(prompt, list)
            else None, adapter=adapter, max_tokens=body["max_tokens"], temperature=body.get("temperature"),
            top_p=body.get("top_p"), stop=body.get("stop"), seed=body.get("seed"))
        if not body["stream"]:
            r = await self.engine.generate(req)
            yield _response(body["model"], r.text, r.finish_reason, r.prompt_tokens, r.token_ids)
            return
        lines = []
        async for chunk in self.engine.stream(req):  # LLMServer batches stream output into lists of SSE lines
            choice = {"index": 0, "text": chunk.text, "finish_reason": chunk.finish_reason}
            lines.append(f"data: {json.dumps({'choices': [choice]})}\n\n")
            if chunk.finish_reason:
                usage = {"prompt_tokens": chunk.prompt_tokens, "completion_tokens": chunk.completion_tokens}
                lines.append(f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n")
            if len(lines) >= 2:
                yield lines
                lines = []
        yield lines + ["data: [DONE]\n\n"]

    def seen(self) -> dict:
        return {"downloaded": self.downloaded, "bodies": self.bodies}
