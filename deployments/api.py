"""API ingress deployment: the FastAPI app from clara_ray.api over the job-manager actor and the LLM replicas."""

from __future__ import annotations

from typing import Any, AsyncIterator, Callable

from ray import serve

from actors.clients import JobManagerClient, LearningBufferClient
from actors.job_manager import get_or_create_job_manager
from actors.learning_buffer import get_or_create_learning_buffer
from actors.revision_hub import get_or_create_revision_hub
from clara_ray.api.app import build_app
from clara_ray.config import ClaraSettings, settings_from_dict
from clara_ray.datasets.service import DatasetService
from clara_ray.db.engine import Database
from clara_ray.model.chat_format import closing_token_ids, resolve_chat_template
from clara_ray.model.tokenizer import load_tokenizer
from clara_ray.serving.catalog import ResolvedModel
from clara_ray.serving.completion_log import CompletionLog
from clara_ray.serving.engine import GenerationRequest, GenerationResult, StreamChunk
from clara_ray.serving.model_defaults import SamplingDefaults
from clara_ray.serving.revision_client import RayRevisionClient
from clara_ray.serving.revision_follower import RevisionFollower
from clara_ray.serving.revision_hooks import ApiReplicaHooks
from clara_ray.serving.revisions import ReplicaRole
from clara_ray.serving.router import offline_embedder
from clara_ray.serving.service import ServingService
from clara_ray.training.alias_recipes import AliasRecipes
from clara_ray.training.pipeline import base_model_id, base_model_path
from deployments.serve_llm import ServeLLMBackend


class ReplicaBackend:
    """Generation on the LoraLLM replicas; the version id is the multiplexed model id (Serve routes by it)."""

    def __init__(self, handle):
        self.handle = handle

    def _h(self, model: ResolvedModel, stream: bool = False):
        return self.handle.options(multiplexed_model_id=model.version_id or "", stream=stream)

    async def generate(self, req: GenerationRequest, model: ResolvedModel) -> GenerationResult:
        out = await self._h(model).generate.remote(req.model_dump(exclude={"adapter"}))
        return GenerationResult(**out)

    async def stream(self, req: GenerationRequest, model: ResolvedModel) -> AsyncIterator[StreamChunk]:
        async for chunk in self._h(model, stream=True).stream.remote(req.model_dump(exclude={"adapter"})):
            yield StreamChunk(**chunk)

    async def stats(self) -> dict:
        return await self.handle.stats.remote()


def llm_backend(s: ClaraSettings, handle, llm_request: Callable[[dict], Any] | None = None):
    """The LLM replicas as the serving service sees them: ours (LoraLLM), or Ray Serve LLM's for engine "vllm"."""
    if s.serving.engine != "vllm":
        return ReplicaBackend(handle)
    base = base_model_path(s)
    tokenizer = load_tokenizer(base, resolve_chat_template(s.model.chat_template))
    return ServeLLMBackend(handle, base_id=base_model_id(base), defaults=SamplingDefaults.from_model_folder(base),
                           stop_token_ids=closing_token_ids(tokenizer),
                           **({"make_request": llm_request} if llm_request else {}))


@serve.deployment(name="ClaraApi", ray_actor_options={"num_cpus": 0.1})
@serve.ingress()
class ClaraApi:
    def __init__(self, settings: dict, llm_handle=None, llm_request: Callable[[dict], Any] | None = None):
        """`llm_handle`: the LoraLLM deployment; `llm_request`: how a Ray Serve LLM replica takes a completion body
        (default Ray's CompletionRequest; tests of the ingress swap in a server that takes the dict)."""
        s = settings_from_dict(settings)
        db = Database(s.storage.database_url)
        self._completions = CompletionLog(db, s.serving.completion_log)  # every answer this replica serves
        # Alias flips and router changes reach this replica as events from the revision hub (clara_ray/serving/
        # revisions.py); activate/rollback/configure here publish to it and return once every replica applied them.
        self._revisions = RayRevisionClient(s.ray.namespace, ack_timeout=s.serving.revision_ack_timeout_seconds,
                                            handle=get_or_create_revision_hub(
                                                s.ray.namespace, stale_after=s.serving.revision_stale_after_seconds))
        serving = ServingService(s, db, llm_backend(s, llm_handle, llm_request), base_model_path=base_model_path(s),
                                 embed=offline_embedder() if s.router.use_embeddings else None,
                                 completions=self._completions, revisions=self._revisions) \
            if llm_handle is not None else None
        self._follower = None
        if serving is not None:
            self._follower = RevisionFollower(self._revisions, serve.get_replica_context().replica_id.to_full_id_str(),
                                              ReplicaRole.API, ApiReplicaHooks(serving),
                                              router_revision=serving.router_revision,
                                              poll_seconds=s.serving.revision_poll_seconds)
            self._follower.start()  # the constructor runs on the replica's event loop
        self._app = build_app(
            s,
            jobs=JobManagerClient(get_or_create_job_manager(s)),
            serving=serving,
            learning=LearningBufferClient(get_or_create_learning_buffer(s)),
            datasets=DatasetService(s, db),
            completions=self._completions,
            recipes=AliasRecipes(db),
        )

    def __del__(self):
        follower = getattr(self, "_follower", None)
        if follower is not None:
            follower.cancel()
            self._revisions.leave_nowait(follower.id)  # publishes stop waiting for this replica
        self._completions.close()  # writes what is still queued

    def __serve_build_asgi_app__(self):
        # Serve freezes a module-level app; building it per replica lets routes see this replica's backends.
        return self._app
