"""Scheduled retention: old finished jobs and their checkpoints, rejected versions' files, completions, used feedback.

One pass (`run_retention`) is run periodically by the job manager actor (`retention.interval_seconds`, see
actors/job_manager.py). It never touches what serving or learning may still need: an alias's active or previous
version (the rollback target) and the jobs that made them, pending feedback and the samples of a running cycle.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import fsspec
from sqlalchemy import delete, or_, select

from clara_ray.adapters.registry import AdapterRegistry
from clara_ray.adapters.version_status import VersionStatus
from clara_ray.adapters.store import AdapterStore
from clara_ray.config import ClaraSettings
from clara_ray.db.engine import Database
from clara_ray.db.tables import AdapterAlias, AdapterVersion, Feedback, Job, JobMetric, LearningCycle
from clara_ray.learning.buffer import DROPPED, RATING_ONLY
from clara_ray.learning.states import CycleStatus
from clara_ray.serving.completion_log import purge_completions
from clara_ray.training.spec import JobStatus

log = logging.getLogger("clara.retention")

FINISHED = [s.value for s in JobStatus if s.finished]


@dataclass(frozen=True)
class RetentionReport:
    """What one retention pass removed (counts) and which versions it kept because an alias needs them."""

    jobs: int = 0
    """Finished training jobs deleted (with their metric points)."""
    checkpoints: int = 0
    """Ray Train checkpoint folders of those jobs deleted."""
    version_files: int = 0
    """Rejected versions whose adapter-store folder was deleted (their status becomes "purged")."""
    completions: int = 0
    """Logged generations deleted."""
    feedback: int = 0
    """Feedback rows deleted (used by a finished cycle, rating only, or dropped)."""
    protected_versions: list[str] = field(default_factory=list)
    """Version ids no pass may touch: every alias's active and previous version."""


def protected_versions(db: Database) -> set[str]:
    """Every alias's active version and the version a rollback would return to."""
    with db.session() as s:
        rows = s.execute(select(AdapterAlias.version_id, AdapterAlias.previous_version_id)).all()
    return {v for row in rows for v in row if v}


def run_retention(settings: ClaraSettings, db: Database, now: datetime | None = None) -> RetentionReport:
    """One pass over every kind of data with an age limit; returns what it removed."""
    now = now or datetime.now(timezone.utc)
    keep = protected_versions(db)
    jobs, checkpoints = _jobs(settings, db, now - timedelta(days=settings.training.cleanup_after_days), keep)
    report = RetentionReport(
        jobs=jobs, checkpoints=checkpoints,
        version_files=_rejected_versions(settings, db, now - timedelta(
            days=settings.retention.rejected_versions_after_days), keep),
        completions=purge_completions(db, settings.serving.completion_log.retention_days, now),
        feedback=_feedback(db, now - timedelta(days=settings.retention.feedback_after_days)),
        protected_versions=sorted(keep))
    if report.jobs or report.version_files or report.completions or report.feedback:
        log.info("retention removed %d jobs (%d checkpoints), %d rejected versions' files, %d completions, "
                 "%d feedback rows", report.jobs, report.checkpoints, report.version_files, report.completions,
                 report.feedback)
    return report


def _jobs(settings: ClaraSettings, db: Database, cutoff: datetime, keep: set[str]) -> tuple[int, int]:
    """Finished jobs older than the cutoff, except those that made a protected version; and their checkpoints."""
    with db.session() as s:
        rows = s.execute(select(Job.id, Job.name).where(
            Job.status.in_(FINISHED), Job.finished_at < cutoff,
            or_(Job.adapter_version_id.is_(None), Job.adapter_version_id.not_in(keep or {""})))).all()
        ids = [r.id for r in rows]
        if ids:
            s.execute(delete(JobMetric).where(JobMetric.job_id.in_(ids)))
            s.execute(delete(Job).where(Job.id.in_(ids)))
    return len(ids), sum(_delete_checkpoint(settings.storage.checkpoint_uri, r.name, r.id) for r in rows)


def _delete_checkpoint(root_uri: str, name: str, job_id: str) -> int:
    """Delete `<checkpoint_uri>/clara-<name>-<job_id>` (the run folder Ray Train writes, see ray_loop.py)."""
    fs, root = fsspec.core.url_to_fs(root_uri.rstrip("/"))
    path = f"{root}/clara-{name}-{job_id}"
    try:
        if fs.exists(path):
            fs.rm(path, recursive=True)
            return 1
    except OSError:
        log.exception("could not delete the checkpoints of job %s", job_id)
    return 0


def _rejected_versions(settings: ClaraSettings, db: Database, cutoff: datetime, keep: set[str]) -> int:
    """Delete the store folders of rejected versions older than the cutoff; mark them purged."""
    with db.session() as s:
        rows = list(s.scalars(select(AdapterVersion).where(
            AdapterVersion.status == VersionStatus.REJECTED, AdapterVersion.created_at < cutoff)))
    store, registry, removed = AdapterStore.for_storage(settings.storage), AdapterRegistry(db), 0
    for v in rows:
        if v.id in keep:  # a rejected version is never an alias target, but a manual status change could make one
            continue
        try:
            store.delete(v.uri)
        except OSError:
            log.exception("could not delete the files of %s@v%d", v.name, v.version)
            continue
        registry.set_status(v.id, VersionStatus.PURGED, f"files removed by retention (rejected: {v.status_reason or 'no reason'})")
        removed += 1
    return removed


def _feedback(db: Database, cutoff: datetime) -> int:
    """Feedback older than the cutoff that nothing waits for: ratings, dropped, or used by a finished cycle."""
    with db.session() as s:
        finished = select(LearningCycle.id).where(LearningCycle.status.not_in([CycleStatus.RUNNING, CycleStatus.CANARY]))
        return s.execute(delete(Feedback).where(
            Feedback.created_at < cutoff,
            or_(Feedback.cycle_id.in_([DROPPED, RATING_ONLY]), Feedback.cycle_id.in_(finished))),
        ).rowcount or 0
