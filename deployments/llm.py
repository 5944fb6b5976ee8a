"""LLM replica deployment: one engine (base model + many adapters) per replica, adapters multiplexed by version id."""

from __future__ import annotations

from pathlib import Path

from ray import serve
from ray.serve import Deployment

from actors.revision_hub import get_or_create_revision_hub
from clara_ray.adapters.registry import AdapterRegistry
from clara_ray.adapters.store import AdapterStore
from clara_ray.config import ClaraSettings, settings_from_dict
from clara_ray.db.engine import Database
from clara_ray.serving.engine import GenerationRequest
from clara_ray.serving.factory import build_engine
from clara_ray.serving.local_backend import AdapterLoader
from clara_ray.serving.revision_client import RayRevisionClient
from clara_ray.serving.revision_follower import RevisionFollower
from clara_ray.serving.revisions import AliasRevision, ReplicaRole, RouterRevision
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


class LoraLLM:
    """The replica's code; `llm_deployment` makes it a Serve deployment with its multiplexed `get_adapter`."""

    def __init__(self, settings: dict):
        s = settings_from_dict(settings)
        base = base_model_path(s)
        self.engine = build_engine(s, base)
        self.registry = AdapterRegistry(Database(s.storage.database_url))
        self.loader = AdapterLoader(self.engine, AdapterStore.for_storage(s.storage),
                                    Path(s.storage.data_dir) / "adapter-cache", base_model_id(base))
        # A promoted version is loaded as soon as the revision hub announces it, before requests name it.
        self._revisions = RayRevisionClient(s.ray.namespace, ack_timeout=s.serving.revision_ack_timeout_seconds,
                                            handle=get_or_create_revision_hub(
                                                s.ray.namespace, stale_after=s.serving.revision_stale_after_seconds))
        self._follower = RevisionFollower(self._revisions, serve.get_replica_context().replica_id.to_full_id_str(),
                                          ReplicaRole.LLM, _PrefetchHooks(self),
                                          poll_seconds=s.serving.revision_poll_seconds)
        self._follower.start()  # the constructor runs on the replica's event loop

    def __del__(self):
        follower = getattr(self, "_follower", None)
        if follower is not None:
            follower.cancel()
            self._revisions.leave_nowait(follower.id)

    async def get_adapter(self, version_id: str) -> _Held:
        """Serve's multiplexed loader (see `llm_deployment`): cached per replica, least recently used unloaded."""
        raise NotImplementedError("deploy LoraLLM through llm_deployment(settings)")

    async def _load_adapter(self, version_id: str) -> _Held:
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


class _PrefetchHooks:
    """ReplicaHooks of an LLM replica: load the alias's new version (and its canary) through Serve's multiplexing
    cache."""

    def __init__(self, replica: LoraLLM):
        self.replica = replica

    async def alias_moved(self, change: AliasRevision) -> None:
        await self.replica.get_adapter(change.version_id)
        if change.canary_version_id:  # a canary started: its share of callers arrives from the next request on
            await self.replica.get_adapter(change.canary_version_id)

    async def router_changed(self, change: RouterRevision) -> None:
        return None

    async def resynced(self) -> None:
        return None


def llm_deployment(settings: ClaraSettings) -> Deployment:
    """The LoraLLM deployment, its multiplexing sized by `serving.max_adapters_per_replica`.

    Serve reads `max_num_models_per_replica` when the decorator runs, so the multiplexed method is defined here,
    per deployment, instead of at import time. The engine gets the same number of slots (serving/factory.py):
    Serve's LRU decides what is loaded (its eviction unloads from the engine), one cache with one size."""
    capacity = settings.serving.max_adapters_per_replica

    class MultiplexedLoraLLM(LoraLLM):
        @serve.multiplexed(max_num_models_per_replica=capacity)
        async def get_adapter(self, version_id: str) -> _Held:
            return await self._load_adapter(version_id)

    return serve.deployment(name="LoraLLM", ray_actor_options={"num_cpus": 0.5},
                            max_ongoing_requests=64)(MultiplexedLoraLLM)
