"""Persistence of training jobs: create, transition, query; the database is the source of truth for the queue."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import func, select

from clara_ray.db.engine import Database
from clara_ray.db.tables import Job, utcnow
from clara_ray.training.spec import JobStatus, TrainingJobRequest


class JobNotFound(LookupError):
    pass


class IllegalTransition(ValueError):
    """E.g. retrying a RUNNING job or cancelling a COMPLETED one."""


# Which states each state may move to.
TRANSITIONS: dict[JobStatus, set[JobStatus]] = {
    JobStatus.PENDING: {JobStatus.QUEUED, JobStatus.CANCELLED, JobStatus.FAILED},
    JobStatus.QUEUED: {JobStatus.RUNNING, JobStatus.CANCELLED, JobStatus.FAILED},
    JobStatus.RUNNING: {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.QUEUED},
    JobStatus.COMPLETED: set(),
    JobStatus.FAILED: set(),
    JobStatus.CANCELLED: set(),
}


@dataclass
class JobPage:
    items: list[Job]
    total: int
    offset: int
    limit: int


class JobStore:
    def __init__(self, db: Database):
        self.db = db

    def create(self, req: TrainingJobRequest, *, created_by: str | None = None, retry_of: Job | None = None) -> Job:
        job = Job(
            name=req.name,
            trainer_type=req.trainer_type.value,
            status=JobStatus.PENDING.value,
            priority=req.priority,
            request=req.model_dump(mode="json"),
            attempt=(retry_of.attempt + 1) if retry_of else 1,
            retry_of=retry_of.id if retry_of else None,
            created_by=created_by,
            metrics={},
            seq=time.time_ns(),
        )
        with self.db.session() as s:
            s.add(job)
        return job

    def get(self, job_id: str) -> Job:
        with self.db.session() as s:
            job = s.get(Job, job_id)
        if job is None:
            raise JobNotFound(f"training job {job_id} not found")
        return job

    def transition(self, job_id: str, to: JobStatus, **fields) -> Job:
        """Move a job to `to` if legal; sets the matching timestamp. Raises IllegalTransition otherwise."""
        with self.db.session() as s:
            job = s.get(Job, job_id, with_for_update=True)
            if job is None:
                raise JobNotFound(f"training job {job_id} not found")
            current = JobStatus(job.status)
            if to not in TRANSITIONS[current]:
                raise IllegalTransition(f"job {job_id} is {current.value}; cannot move to {to.value}")
            job.status = to.value
            now = utcnow()
            if to == JobStatus.QUEUED:
                job.queued_at = now
            elif to == JobStatus.RUNNING:
                job.started_at = now
            elif to.finished:
                job.finished_at = now
            for k, v in fields.items():
                setattr(job, k, v)
        return job

    def update_progress(self, job_id: str, *, step: int | None = None, total_steps: int | None = None,
                        metrics: dict | None = None) -> None:
        with self.db.session() as s:
            job = s.get(Job, job_id)
            if job is None:
                return
            if step is not None:
                job.step = step
            if total_steps:
                job.total_steps = total_steps
            if metrics:
                job.metrics = {**(job.metrics or {}), **metrics}

    def list(self, *, status: list[str] | None = None, trainer_type: str | None = None, name: str | None = None,
             offset: int = 0, limit: int = 50) -> JobPage:
        with self.db.session() as s:
            q = select(Job)
            if status:
                q = q.where(Job.status.in_(status))
            if trainer_type:
                q = q.where(Job.trainer_type == trainer_type)
            if name:
                q = q.where(Job.name == name)
            total = s.scalar(select(func.count()).select_from(q.subquery()))
            items = list(s.scalars(q.order_by(Job.seq.desc()).offset(offset).limit(limit)))
        return JobPage(items, total or 0, offset, limit)

    def queued_in_order(self) -> list[Job]:
        """QUEUED jobs in run order: priority 1 first, FIFO within a priority."""
        with self.db.session() as s:
            return list(s.scalars(select(Job).where(Job.status == JobStatus.QUEUED.value)
                                  .order_by(Job.priority, Job.seq)))

    def in_status(self, *statuses: JobStatus) -> list[Job]:
        with self.db.session() as s:
            return list(s.scalars(select(Job).where(Job.status.in_([x.value for x in statuses])).order_by(Job.seq)))

    def delete_finished_before(self, cutoff) -> int:
        with self.db.session() as s:
            rows = list(s.scalars(select(Job).where(Job.finished_at < cutoff)))
            for r in rows:
                s.delete(r)
        return len(rows)
