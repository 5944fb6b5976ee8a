"""In-process LLM backend: one Engine in this process, adapters loaded from the store on first use."""

from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator

from clara_ray.adapters.store import AdapterStore
from clara_ray.serving.catalog import ResolvedModel
from clara_ray.serving.engine import Engine, GenerationRequest, GenerationResult, StreamChunk


class AdapterLoader:
    """Makes sure a version's weights are in an engine before a request names it (shared with the Serve replica)."""

    def __init__(self, engine: Engine, store: AdapterStore, cache_dir: Path, base_model_id: str):
        self.engine, self.store, self.cache_dir, self.base_model_id = engine, store, cache_dir, base_model_id

    def ensure(self, version_id: str, uri: str) -> None:
        if version_id not in self.engine.loaded_adapters():
            path = self.store.local_path(uri, self.cache_dir)
            self.engine.load_adapter(version_id, str(path), expected_base=self.base_model_id)


class LocalBackend:
    def __init__(self, engine: Engine, loader: AdapterLoader):
        self.engine, self.loader = engine, loader

    def _bind(self, req: GenerationRequest, model: ResolvedModel) -> GenerationRequest:
        if model.version_id:
            self.loader.ensure(model.version_id, model.uri)
        return req.model_copy(update={"adapter": model.version_id})

    async def generate(self, req: GenerationRequest, model: ResolvedModel) -> GenerationResult:
        return await self.engine.generate(self._bind(req, model))

    async def stream(self, req: GenerationRequest, model: ResolvedModel) -> AsyncIterator[StreamChunk]:
        async for chunk in self.engine.stream(self._bind(req, model)):
            yield chunk

    async def stats(self) -> dict:
        return {"local": self.engine.stats()}
