"""Typed clients of the detached actors: each method names one actor method and passes pydantic models through Ray
(no dicts, no dynamic proxy). They implement the library's interfaces (JobsControl, LearningControl), so the API and
the learning loop call the same methods whether the other side is an actor or an object in this process."""

from __future__ import annotations

from typing import Sequence

from ray.actor import ActorHandle

from clara_ray.learning.feedback import FeedbackResult, FeedbackSample
from clara_ray.training.spec import TrainingJobRequest


class JobManagerClient:
    """JobsControl over the JobManagerActor (actors/job_manager.py)."""

    def __init__(self, actor: ActorHandle):
        self._actor = actor

    async def create(self, request: TrainingJobRequest, created_by: str | None = None) -> dict:
        return await self._actor.create.remote(request, created_by)

    async def get(self, job_id: str) -> dict:
        return await self._actor.get.remote(job_id)

    async def list(self, *, status: list[str] | None = None, trainer_type: str | None = None,
                   name: str | None = None, offset: int = 0, limit: int = 50) -> dict:
        return await self._actor.list.remote(status=status, trainer_type=trainer_type, name=name, offset=offset,
                                             limit=limit)

    async def metrics(self, job_id: str) -> dict:
        return await self._actor.metrics.remote(job_id)

    async def cancel(self, job_id: str) -> dict:
        return await self._actor.cancel.remote(job_id)

    async def retry(self, job_id: str, created_by: str | None = None) -> dict:
        return await self._actor.retry.remote(job_id, created_by)

    async def wait_finished(self, job_id: str, timeout: float) -> dict:
        return await self._actor.wait_finished.remote(job_id, timeout)

    async def wait_events(self, after: int, timeout: float = 15.0) -> list[dict]:
        return await self._actor.wait_events.remote(after, timeout)

    async def last_seq(self) -> int:
        return await self._actor.last_seq.remote()


class LearningBufferClient:
    """LearningControl over the LearningBufferActor (actors/learning_buffer.py)."""

    def __init__(self, actor: ActorHandle):
        self._actor = actor

    async def add_feedback(self, items: list[FeedbackSample], caller: str | None = None,
                           item_keys: Sequence[str | None] | None = None) -> list[FeedbackResult]:
        return await self._actor.add_feedback.remote(items, caller, list(item_keys) if item_keys else None)

    async def stats(self) -> dict:
        return await self._actor.stats.remote()

    async def cycles(self, alias: str | None = None, limit: int = 50) -> list[dict]:
        return await self._actor.cycles.remote(alias, limit)

    async def cycle(self, cycle_id: str) -> dict:
        return await self._actor.cycle.remote(cycle_id)

    async def trigger(self, alias: str) -> dict:
        return await self._actor.trigger.remote(alias)

    async def end_canary(self, alias: str, promote: bool, by: str | None = None) -> dict:
        return await self._actor.end_canary.remote(alias, promote, by)

    async def wait_events(self, after: int, timeout: float = 15.0) -> list[dict]:
        return await self._actor.wait_events.remote(after, timeout)

    async def last_seq(self) -> int:
        return await self._actor.last_seq.remote()
