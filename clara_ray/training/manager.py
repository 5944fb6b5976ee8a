"""Job manager: queue with priorities and a concurrency cap, lifecycle, timeouts, restart recovery, live events.

Plain asyncio; the Ray actor in actors/job_manager.py hosts it and injects a launcher that runs each job
in its own Ray actor. Unit tests inject an in-process launcher instead.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Awaitable, Callable, Protocol

from clara_ray import observability as obs
from clara_ray.adapters.registry import AdapterRegistry
from clara_ray.config import ClaraSettings
from clara_ray.training.prepare import DataError
from clara_ray.db.engine import Database
from clara_ray.db.tables import DatasetRecord, Job
from clara_ray.events import EventLog
from clara_ray.retention import RetentionReport, run_retention
from clara_ray.training.job_store import IllegalTransition, JobNotFound, JobStore
from clara_ray.training.spec import JobStatus, TrainerType, TrainingJobRequest

log = logging.getLogger("clara.jobs")


class RunHandle(Protocol):
    async def result(self) -> dict: ...  # JobResult as a dict; raises on failure
    async def cancel(self) -> None: ...


class Launcher(Protocol):
    def launch(self, job_id: str, request: dict) -> RunHandle: ...
    def reattach(self, job_id: str) -> RunHandle | None: ...


class JobCancelled(Exception):
    pass


def job_view(job: Job) -> dict:
    """The JSON shape of a job in the API and in events."""
    eta = None
    m = job.metrics or {}
    if job.status == JobStatus.RUNNING.value and job.step and job.total_steps and m.get("steps_per_s"):
        eta = max(0.0, (job.total_steps - job.step) / m["steps_per_s"])
    return {
        "job_id": job.id, "name": job.name, "trainer_type": job.trainer_type, "status": job.status,
        "priority": job.priority, "attempt": job.attempt, "retry_of": job.retry_of, "error": job.error,
        "step": job.step, "total_steps": job.total_steps,
        "progress": round(job.step / job.total_steps, 4) if job.total_steps else 0.0, "eta_seconds": eta,
        "metrics": m, "adapter_version_id": job.adapter_version_id, "request": job.request,
        "created_by": job.created_by,
        **{k: (getattr(job, k).isoformat() if getattr(job, k) else None)
           for k in ("created_at", "queued_at", "started_at", "finished_at")},
    }


class JobManager:
    def __init__(self, settings: ClaraSettings, db: Database, launcher: Launcher,
                 on_finished: Callable[[dict], Awaitable[None]] | None = None):
        self.settings = settings
        self.db = db
        self.store = JobStore(db)
        self.registry = AdapterRegistry(db)
        self.launcher = launcher
        self.events = EventLog()
        self.on_finished = on_finished
        self._running: dict[str, asyncio.Task] = {}
        self._handles: dict[str, RunHandle] = {}
        self._cancelling: set[str] = set()
        self._lock = asyncio.Lock()
        self._step_rate: dict[str, tuple[float, int]] = {}
        self._retention: asyncio.Task | None = None

    # ---- lifecycle -------------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Recover after a restart: nothing stays PENDING or stuck RUNNING, then fill free slots."""
        for job in self.store.in_status(JobStatus.PENDING):
            self.store.transition(job.id, JobStatus.QUEUED)
        for job in self.store.in_status(JobStatus.RUNNING):
            handle = self.launcher.reattach(job.id)
            if handle is not None:
                self._watch(job.id, handle)
            else:
                self.store.transition(job.id, JobStatus.QUEUED, error="re-queued: its runner was lost in a restart")
        await self._schedule()

    async def close(self) -> None:
        """Stop supervising (the runs themselves are not touched; a new manager re-attaches to them)."""
        tasks = list(self._running.values()) + ([self._retention] if self._retention else [])
        self._retention = None
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def create(self, req: TrainingJobRequest, created_by: str | None = None,
                     retry_of: Job | None = None) -> dict:
        self._check_references(req)
        job = self.store.create(req, created_by=created_by, retry_of=retry_of)
        await self._publish(job)
        job = self.store.transition(job.id, JobStatus.QUEUED)
        await self._publish(job)
        await self._schedule()
        return job_view(self.store.get(job.id))

    def _check_references(self, req: TrainingJobRequest) -> None:
        """Unknown datasets/parents fail at submission (404), not minutes later inside a worker."""
        if req.dataset_id:
            with self.db.session() as s:
                if s.get(DatasetRecord, req.dataset_id) is None:
                    raise DataError(f"dataset {req.dataset_id} not found")
        if req.trainer_type == TrainerType.CONTINUOUS:
            self.registry.resolve(req.parent or req.name)  # raises UnknownAdapter

    def get(self, job_id: str) -> dict:
        return job_view(self.store.get(job_id))

    def metrics(self, job_id: str) -> dict:
        """The job's loss / learning-rate / perplexity curve points so far (404 for an unknown job)."""
        self.store.get(job_id)
        return {"job_id": job_id, "points": self.store.metrics(job_id)}

    def list(self, **filters) -> dict:
        page = self.store.list(**filters)
        return {"items": [job_view(j) for j in page.items], "total": page.total,
                "offset": page.offset, "limit": page.limit}

    async def cancel(self, job_id: str) -> dict:
        job = self.store.get(job_id)
        status = JobStatus(job.status)
        if status.finished:
            raise IllegalTransition(f"job {job_id} is already {status.value}; nothing to cancel")
        if status == JobStatus.RUNNING and job_id in self._handles:
            self._cancelling.add(job_id)
            await self._handles[job_id].cancel()
            task = self._running.get(job_id)
            if task:
                await asyncio.wait({task}, timeout=30)
            return job_view(self.store.get(job_id))
        job = self.store.transition(job_id, JobStatus.CANCELLED, error="cancelled before it started")
        await self._publish(job)
        return job_view(job)

    async def retry(self, job_id: str, created_by: str | None = None) -> dict:
        job = self.store.get(job_id)
        if job.status not in (JobStatus.FAILED.value, JobStatus.CANCELLED.value):
            raise IllegalTransition(f"job {job_id} is {job.status}; only FAILED or CANCELLED jobs can be retried")
        return await self.create(TrainingJobRequest.model_validate(job.request), created_by, retry_of=job)

    async def wait_events(self, after: int, timeout: float = 15.0) -> list[dict]:
        return await self.events.wait(after, timeout)

    async def wait_finished(self, job_id: str, timeout: float) -> dict:
        """Block until the job is finished (used by the learning loop and tests)."""
        deadline = asyncio.get_running_loop().time() + timeout
        seq = self.events.last_seq
        while True:
            view = self.get(job_id)
            if JobStatus(view["status"]).finished:
                return view
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError(f"job {job_id} still {view['status']} after {timeout}s")
            events = await self.events.wait(seq, timeout=min(left, 5))
            if events:
                seq = events[-1]["seq"]

    def cleanup(self) -> RetentionReport:
        """One retention pass (clara_ray/retention.py): old jobs and checkpoints, rejected versions' files,
        completions and used feedback; never an alias's active or previous version."""
        return run_retention(self.settings, self.db)

    def start_retention(self) -> None:
        """Run `cleanup` now and every `retention.interval_seconds` (the job manager actor calls this once)."""
        if self.settings.retention.enabled and self._retention is None:
            self._retention = asyncio.create_task(self._retention_loop())

    async def _retention_loop(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.cleanup)
            except Exception:  # noqa: BLE001 - a failed pass must not stop the next ones
                log.exception("retention pass failed")
            await asyncio.sleep(self.settings.retention.interval_seconds)

    # ---- progress from workers ----------------------------------------------------------------------------
    async def on_progress(self, job_id: str, events: list[dict]) -> None:
        latest: dict = {}
        step = total = None
        for e in events:
            kind = e.get("kind")
            if kind == "step":
                step, total = e["step"], e.get("total_steps")
                latest.update(loss=e["loss"], learning_rate=e["learning_rate"], tokens_per_s=e["tokens_per_s"])
            elif kind == "eval":
                latest["perplexity"] = e["perplexity"]
                total = e.get("total_steps") or total
            elif kind == "trial":  # a sweep: the whole trial table (training/tune_sweep.py TrialBoard)
                latest["trials"] = e["trials"]
            elif kind == "data":
                latest["data"] = {k: v for k, v in e.items() if k not in ("kind", "time")}
            await self.events.publish("metrics_update", {"job_id": job_id, **e})
        if step is not None:
            t0 = self._step_rate.setdefault(job_id, (events[0]["time"], step))
            dt = events[-1]["time"] - t0[0]
            if dt > 0 and step > t0[1]:
                latest["steps_per_s"] = (step - t0[1]) / dt
        self.store.update_progress(job_id, step=step, total_steps=total, metrics=latest)
        self.store.append_metrics(job_id, events)

    # ---- scheduling -----------------------------------------------------------------------------------------
    async def _schedule(self) -> None:
        async with self._lock:
            free = self.settings.training.max_concurrent_jobs - len(self._running)
            for job in self.store.queued_in_order()[: max(free, 0)]:
                job = self.store.transition(job.id, JobStatus.RUNNING, error=None)
                await self._publish(job)
                self._watch(job.id, self.launcher.launch(job.id, job.request))
            obs.set_active_jobs(len(self._running))

    def _watch(self, job_id: str, handle: RunHandle) -> None:
        self._handles[job_id] = handle
        self._running[job_id] = asyncio.create_task(self._supervise(job_id, handle))

    async def _supervise(self, job_id: str, handle: RunHandle) -> None:
        job = self.store.get(job_id)
        timeout = (job.request or {}).get("timeout_seconds") or self.settings.training.job_timeout_seconds
        try:
            result = await asyncio.wait_for(handle.result(), timeout)
        except asyncio.TimeoutError:
            await handle.cancel()
            await self._finish(job_id, JobStatus.FAILED, error=f"timed out after {timeout:.0f}s")
        except Exception as e:  # noqa: BLE001 - any training error ends the job FAILED with its message
            if job_id in self._cancelling:
                await self._finish(job_id, JobStatus.CANCELLED, error="cancelled by user")
            else:
                await self._finish(job_id, JobStatus.FAILED, error=readable_error(e))
        else:
            await self._finish(job_id, JobStatus.COMPLETED, result=result)
        finally:
            self._running.pop(job_id, None)
            self._handles.pop(job_id, None)
            self._cancelling.discard(job_id)
            self._step_rate.pop(job_id, None)
            await self._schedule()
            obs.set_active_jobs(len(self._running))

    async def _finish(self, job_id: str, status: JobStatus, error: str | None = None, result: dict | None = None):
        fields: dict = {"error": error}
        if result:
            job = self.store.get(job_id)
            fields["adapter_version_id"] = result["version_id"]
            fields["metrics"] = {**(job.metrics or {}), **result["metrics"], "adapter": result["ref"],
                                 "adapter_uri": result["uri"], "activated": result["activated"],
                                 "data": result.get("data_stats")}
            fields["step"] = result["metrics"].get("step", job.step)
        job = self.store.transition(job_id, status, **fields)
        seconds = (job.finished_at - job.started_at).total_seconds() if job.started_at and job.finished_at else None
        obs.record_job_finished(status.value, job.trainer_type, seconds)
        view = await self._publish(job)
        if self.on_finished:
            await self.on_finished(view)

    async def _publish(self, job: Job) -> dict:
        view = job_view(job)
        await self.events.publish("job_update", view)
        return view


def readable_error(e: BaseException) -> str:
    """The innermost meaningful message of a (possibly Ray-wrapped) training error, without a traceback."""
    seen = set()
    while True:
        cause = getattr(e, "cause", None) or e.__cause__
        if cause is None or id(cause) in seen:
            break
        seen.add(id(cause))
        e = cause
    text = str(e).strip()
    # Ray error strings carry a traceback; the last non-empty line is the exception message.
    lines = [ln for ln in text.splitlines() if ln.strip()]
    msg = lines[-1] if lines else type(e).__name__
    return scrub(msg)[:2000]


_PROCESS_IDS = re.compile(r"\b(pid|ip|node_id|worker_id|actor_id)=[^\s,)]+")
_QUOTED_ABS_PATH = re.compile(r"""(['"])(/[^'"\s]+)\1""")


def scrub(msg: str) -> str:
    """A message fit for clients: no process ids or node addresses (Ray's wrappers add them) and no absolute server
    paths in quotes (OSError messages): a quoted path keeps only its file name."""
    msg = _PROCESS_IDS.sub(r"\1=<hidden>", msg)
    return _QUOTED_ABS_PATH.sub(lambda m: f"{m[1]}{m[2].rstrip('/').rsplit('/', 1)[-1]}{m[1]}", msg)


__all__ = ["JobManager", "JobNotFound", "IllegalTransition", "job_view", "readable_error"]
