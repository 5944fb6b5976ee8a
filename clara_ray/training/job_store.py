"""Persistence of training jobs: create, transition, query; the database is the source of truth for the queue."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import delete, func, select

from clara_ray.db.engine import Database
from clara_ray.db.tables import Job, JobMetric, utcnow
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


CURVE_FIELDS = {"step": ("loss", "learning_rate", "tokens_per_s"), "eval": ("perplexity", "final")}
"""Progress event kind -> the values kept per curve point (see JobStore.append_metrics)."""


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

    def append_metrics(self, job_id: str, events: list[dict]) -> None:
        """Keep the `step` and `eval` events of a progress batch as curve points."""
        rows = [JobMetric(job_id=job_id, kind=e["kind"], step=int(e["step"]), time=float(e["time"]),
                          values={k: e[k] for k in CURVE_FIELDS[e["kind"]] if k in e})
                for e in events if e.get("kind") in CURVE_FIELDS and "step" in e]
        if rows:
            with self.db.session() as s:
                s.add_all(rows)

    def metrics(self, job_id: str, max_points: int = 2000) -> list[dict]:
        """Curve points in order; step points evenly thinned to at most `max_points`, eval points all kept."""
        with self.db.session() as s:
            rows = list(s.scalars(select(JobMetric).where(JobMetric.job_id == job_id).order_by(JobMetric.seq)))
        steps = [r for r in rows if r.kind == "step"]
        stride = -(-len(steps) // max_points) if steps else 1  # ceil
        keep = {r.seq for r in steps[::stride]} | ({steps[-1].seq} if steps else set())
        return [{"kind": r.kind, "step": r.step, "time": r.time, **r.values}
                for r in rows if r.kind != "step" or r.seq in keep]

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
            if rows:
                s.execute(delete(JobMetric).where(JobMetric.job_id.in_([r.id for r in rows])))
        return len(rows)
