"""Detached named learning-buffer actor: hosts the LearningLoop; restarts rebuild it from the database.
The API calls it through actors/clients.py LearningBufferClient (typed methods)."""

from __future__ import annotations

import ray

from actors.backend import VersionedActor, detached_singleton
from actors.clients import JobManagerClient
from actors.job_manager import get_or_create_job_manager
from actors.warm_trainer import evaluate_warm
from clara_ray.config import ClaraSettings, settings_from_dict
from clara_ray.db.engine import Database
from clara_ray.learning.evaluator import CycleEvaluation, EvalRequest, evaluate_request
from clara_ray.learning.feedback import FeedbackResult, FeedbackSample
from clara_ray.learning.loop import LearningLoop
from clara_ray.learning.search_augment import LibrarySearch

BUFFER_NAME = "clara-learning-buffer"


@ray.remote
def _evaluate(settings: dict, request: EvalRequest) -> CycleEvaluation:
    """A cycle's evaluation (clara_ray/learning/evaluator.py) as a Ray task; resources set per call from config."""
    return evaluate_request(settings_from_dict(settings), request)


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=0)
class LearningBufferActor(VersionedActor):
    def __init__(self, settings: dict, deploy_version: str):
        super().__init__(deploy_version)
        s = settings_from_dict(settings)
        # On the training nodes (training.worker_resources): it loads the base and both versions like a trainer.
        evaluation_task = _evaluate.options(num_cpus=s.learning.eval_cpus, num_gpus=s.learning.eval_gpus,
                                            resources=s.training.worker_resources)

        async def evaluate(request: EvalRequest) -> CycleEvaluation:  # the shell only chooses where it runs
            # On an idle warm trainer (it holds the base: no model load), else a task with the configured resources.
            return await evaluate_warm(s, request) or await evaluation_task.remote(settings, request)

        # Attach to the deployment's manager; only a deploy (the API) replaces a stale one.
        jobs = JobManagerClient(get_or_create_job_manager(s, replace_stale=False))
        db = Database(s.storage.database_url)
        # Search augmentation reads the datasets stores through the library (opened per search, graph read-only).
        search = LibrarySearch(s, db) if s.learning.augment_with_search else None
        self.loop = LearningLoop(s, db, jobs, evaluate, search=search)
        self._started = False

    async def ready(self) -> bool:
        # Also called first by every method: after a restart (max_restarts) the first call resumes the loop.
        if not self._started:
            self._started = True
            await self.loop.start()
        return True

    async def add_feedback(self, items: list[FeedbackSample], caller: str | None = None,
                           item_keys: list[str | None] | None = None) -> list[FeedbackResult]:
        """`items`: resolved samples (the API resolves feedback by completion id first); `caller` and `item_keys`
        let a retried request be answered as stored (see LearningBuffer.add)."""
        await self.ready()
        return await self.loop.add(items, caller=caller, item_keys=item_keys)

    async def stats(self) -> dict:
        await self.ready()
        return self.loop.stats()

    async def cycles(self, alias: str | None = None, limit: int = 50) -> list[dict]:
        await self.ready()
        return self.loop.cycles(alias, limit)

    async def cycle(self, cycle_id: str) -> dict:
        await self.ready()
        return self.loop.cycle(cycle_id)

    async def trigger(self, alias: str) -> dict:
        await self.ready()
        return await self.loop.trigger(alias)

    async def end_canary(self, alias: str, promote: bool, by: str | None = None) -> dict:
        """An operator promotes or rolls back the alias's canary now (learning/canary.py)."""
        await self.ready()
        return await self.loop.end_canary(alias, promote, by)

    async def wait_events(self, after: int, timeout: float = 15.0) -> list[dict]:
        await self.ready()
        return await self.loop.events.wait(after, timeout)

    async def last_seq(self) -> int:
        await self.ready()
        return self.loop.events.last_seq

    def pid(self) -> int:
        import os

        return os.getpid()


def get_or_create_learning_buffer(settings: ClaraSettings, *, replace_stale: bool = True):
    """The one learning buffer of this deployment (created on first use, replaced when its code/settings version
    differs unless `replace_stale` is False), with its triggers running."""
    return detached_singleton(LearningBufferActor, BUFFER_NAME, settings, replace_stale=replace_stale)
