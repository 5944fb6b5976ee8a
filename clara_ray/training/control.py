"""The job manager as its callers see it (API routes, the learning loop, the CLI): one typed interface, served
in-process by `InProcessJobs` (unit tests, `jobs.train`) or by the detached actor through actors/clients.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from clara_ray.training.spec import TrainingJobRequest

if TYPE_CHECKING:  # annotation only: the learning loop imports this module, and the manager imports retention
    from clara_ray.training.manager import JobManager


class JobsControl(Protocol):
    """Views are `job_view` dicts (clara_ray/training/manager.py): the JSON the API answers."""

    async def create(self, request: TrainingJobRequest, created_by: str | None = None) -> dict: ...
    async def get(self, job_id: str) -> dict: ...
    async def list(self, *, status: list[str] | None = None, trainer_type: str | None = None,
                   name: str | None = None, offset: int = 0, limit: int = 50) -> dict: ...
    async def metrics(self, job_id: str) -> dict: ...
    async def cancel(self, job_id: str) -> dict: ...
    async def retry(self, job_id: str, created_by: str | None = None) -> dict: ...
    async def wait_finished(self, job_id: str, timeout: float) -> dict: ...
    async def wait_events(self, after: int, timeout: float = 15.0) -> list[dict]: ...
    async def last_seq(self) -> int: ...


class InProcessJobs:
    """JobsControl over a JobManager in this process."""

    def __init__(self, manager: JobManager):
        self.manager = manager

    async def create(self, request: TrainingJobRequest, created_by: str | None = None) -> dict:
        return await self.manager.create(request, created_by)

    async def get(self, job_id: str) -> dict:
        return self.manager.get(job_id)

    async def list(self, *, status: list[str] | None = None, trainer_type: str | None = None,
                   name: str | None = None, offset: int = 0, limit: int = 50) -> dict:
        return self.manager.list(status=status, trainer_type=trainer_type, name=name, offset=offset, limit=limit)

    async def metrics(self, job_id: str) -> dict:
        return self.manager.metrics(job_id)

    async def cancel(self, job_id: str) -> dict:
        return await self.manager.cancel(job_id)

    async def retry(self, job_id: str, created_by: str | None = None) -> dict:
        return await self.manager.retry(job_id, created_by)

    async def wait_finished(self, job_id: str, timeout: float) -> dict:
        return await self.manager.wait_finished(job_id, timeout)

    async def wait_events(self, after: int, timeout: float = 15.0) -> list[dict]:
        return await self.manager.wait_events(after, timeout)

    async def last_seq(self) -> int:
        return self.manager.events.last_seq
