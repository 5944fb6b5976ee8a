"""LLM replica deployment: one engine (base model + many adapters) per replica, adapters multiplexed by version id."""

from __future__ import annotations

from pathlib import Path

from ray import serve

from clara_ray.adapters.registry import AdapterRegistry
from clara_ray.adapters.store import AdapterStore
from clara_ray.config import settings_from_dict
from clara_ray.db.engine import Database
from clara_ray.serving.engine import GenerationRequest
from clara_ray.serving.factory import build_engine
from clara_ray.serving.local_backend import AdapterLoader
from clara_ray.training.pipeline import base_model_id, base_model_path


class _Held:
    """What Serve's multiplexing LRU holds per adapter version; evicting it unloads (after draining) from the engine."""

    def __init__(self, engine, version_id: str, uri: str):
        self.engine, self.version_id, self.uri = engine, version_id, uri

    def __del__(self):
        try:
            self.engine.unload_adapter(self.version_id)
        except Exception:  # noqa: BLE001 - already gone
            pass


@serve.deployment(name="LoraLLM", ray_actor_options={"num_cpus": 0.5}, max_ongoing_requests=64)
class LoraLLM:
    def __init__(self, settings: dict):
        s = settings_from_dict(settings)
        base = base_model_path(s)
        self.engine = build_engine(s, base)
        self.registry = AdapterRegistry(Database(s.storage.database_url))
        self.loader = AdapterLoader(self.engine, AdapterStore(s.storage.adapter_store_uri),
                                    Path(s.storage.data_dir) / "adapter-cache", base_model_id(base))

    @serve.multiplexed(max_num_models_per_replica=8)
    async def get_adapter(self, version_id: str) -> _Held:
        v = self.registry.get_version(version_id)
        self.loader.ensure(v.id, v.uri)
        return _Held(self.engine, v.id, v.uri)

    async def _request(self, req: dict) -> GenerationRequest:
        version_id = serve.get_multiplexed_model_id()
        if version_id:
            held = await self.get_adapter(version_id)  # loads on first use, refreshes Serve's LRU otherwise
            self.loader.ensure(held.version_id, held.uri)  # no-op unless the engine evicted it meanwhile
        return GenerationRequest(**{**req, "adapter": version_id or None})

    async def generate(self, req: dict) -> dict:
        return (await self.engine.generate(await self._request(req))).model_dump()

    async def stream(self, req: dict):
        async for chunk in self.engine.stream(await self._request(req)):
            yield chunk.model_dump()

    def stats(self) -> dict:
        return self.engine.stats()
