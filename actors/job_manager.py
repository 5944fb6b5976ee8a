"""Detached named actor hosting the JobManager: one queue for the whole deployment, survives API restarts.
The API and the learning loop call it through actors/clients.py JobManagerClient (typed methods)."""

from __future__ import annotations

import ray

from actors.backend import VersionedActor, detached_singleton
from actors.warm_pool import job_launcher
from clara_ray.config import ClaraSettings, settings_from_dict
from clara_ray.db.engine import Database
from clara_ray.training.manager import JobManager
from clara_ray.training.spec import TrainingJobRequest

MANAGER_NAME = "clara-job-manager"


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=0)
class JobManagerActor(VersionedActor):
    def __init__(self, settings: dict, deploy_version: str):
        super().__init__(deploy_version)
        self.settings = settings_from_dict(settings)
        db = Database(self.settings.storage.database_url)
        # Ray Train runners, behind a router to the warm trainers this manager owns (training.warm_pool_size).
        self.manager = JobManager(self.settings, db, job_launcher(settings, self.settings, db, MANAGER_NAME))
        self._started = False

    async def ready(self) -> bool:
        # Also called by the entry points: after a restart (max_restarts) the first call recovers the queue.
        if not self._started:
            self._started = True
            await self.manager.start()
            self.manager.start_retention()  # the scheduled cleanup lives here: one per deployment
        return True

    async def create(self, request: TrainingJobRequest, created_by: str | None = None) -> dict:
        await self.ready()
        return await self.manager.create(request, created_by)

    async def get(self, job_id: str) -> dict:
        return self.manager.get(job_id)

    async def list(self, *, status: list[str] | None = None, trainer_type: str | None = None,
                   name: str | None = None, offset: int = 0, limit: int = 50) -> dict:
        await self.ready()
        return self.manager.list(status=status, trainer_type=trainer_type, name=name, offset=offset, limit=limit)

    async def metrics(self, job_id: str) -> dict:
        return self.manager.metrics(job_id)

    async def cancel(self, job_id: str) -> dict:
        return await self.manager.cancel(job_id)

    async def retry(self, job_id: str, created_by: str | None = None) -> dict:
        return await self.manager.retry(job_id, created_by)

    async def on_progress(self, job_id: str, events: list[dict]) -> None:
        await self.manager.on_progress(job_id, events)

    async def wait_events(self, after: int, timeout: float = 15.0) -> list[dict]:
        return await self.manager.wait_events(after, timeout)

    async def wait_finished(self, job_id: str, timeout: float) -> dict:
        return await self.manager.wait_finished(job_id, timeout)

    async def last_seq(self) -> int:
        return self.manager.events.last_seq


def get_or_create_job_manager(settings: ClaraSettings, *, replace_stale: bool = True):
    """The one manager of this deployment (created on first use, replaced when its code/settings version differs
    unless `replace_stale` is False), ready to take jobs."""
    return detached_singleton(JobManagerActor, MANAGER_NAME, settings, replace_stale=replace_stale)
