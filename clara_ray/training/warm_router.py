"""Routing jobs to warm workers: the job manager's launcher sends an eligible job to a free warm worker (training/
warm.py) and every other one to the Ray Train launcher; the in-process pool and its event sink for tests and a
single process (the Ray pool is actors/warm_pool.py)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable, Protocol

from clara_ray.config import ClaraSettings
from clara_ray.db.engine import Database
from clara_ray.training.manager import Launcher, RunHandle
from clara_ray.training.spec import TrainingJobRequest
from clara_ray.training.warm import WarmTrainer, input_bytes, warm_ineligibility

log = logging.getLogger("clara.warm")


class WarmPool(Protocol):
    """`size` warm workers, addressed by index (the Ray one: actors/warm_pool.py RayWarmPool)."""

    size: int

    def available(self, index: int) -> bool: ...  # started and holding its base (never blocks)
    def launch(self, index: int, job_id: str, request: dict) -> RunHandle: ...
    def reattach(self, index: int, job_id: str) -> RunHandle | None: ...


class _SlotHandle:
    """A warm run that frees its worker's slot in the router when it ends (however it ends)."""

    def __init__(self, inner: RunHandle, release: Callable[[], None]):
        self.inner, self._release = inner, release

    async def result(self) -> dict:
        try:
            return await self.inner.result()
        finally:
            self._release()

    async def cancel(self) -> None:
        await self.inner.cancel()


class WarmRouter:
    """A job manager launcher: an eligible job goes to a free warm worker, every other job (and an eligible one when
    all warm workers are busy) to `cold`, the Ray Train launcher."""

    def __init__(self, settings: ClaraSettings, db: Database, cold: Launcher, pool: WarmPool):
        self.settings, self.db, self.cold, self.pool = settings, db, cold, pool
        self._busy: dict[int, str] = {}  # worker index -> job id
        self.routed: dict[str, str] = {}  # job id -> "warm" or "ray_train" (for logs and tests)

    def route(self, job_id: str, request: dict) -> int | None:
        """The warm worker for this job, or None for the Ray Train path."""
        req = TrainingJobRequest.model_validate(request)
        reason = warm_ineligibility(req, self.settings, input_bytes(self.db, req, self.settings))
        free = [i for i in range(self.pool.size) if i not in self._busy and self.pool.available(i)]
        if reason is None and not free:
            reason = "every warm worker is busy or still loading its base"
        if reason is not None:
            log.info("job %s on Ray Train: %s", job_id, reason)
            return None
        return free[0]

    def launch(self, job_id: str, request: dict) -> RunHandle:
        index = self.route(job_id, request)
        if index is None:
            self.routed[job_id] = "ray_train"
            return self.cold.launch(job_id, request)
        self.routed[job_id] = "warm"
        return self._hold(index, job_id, self.pool.launch(index, job_id, request))

    def reattach(self, job_id: str) -> RunHandle | None:
        for index in range(self.pool.size):
            if index in self._busy:
                continue
            handle = self.pool.reattach(index, job_id)
            if handle is not None:
                return self._hold(index, job_id, handle)
        return self.cold.reattach(job_id)

    def _hold(self, index: int, job_id: str, handle: RunHandle) -> RunHandle:
        self._busy[index] = job_id

        def release() -> None:
            if self._busy.get(index) == job_id:
                del self._busy[index]

        return _SlotHandle(handle, release)


class ManagerSink:
    """EventSink for an in-process manager: events go to `on_progress(job_id, events)` on the manager's loop."""

    def __init__(self, job_id: str, on_progress, loop: asyncio.AbstractEventLoop):
        self.job_id, self.on_progress, self.loop = job_id, on_progress, loop
        self._pending: list = []

    def emit(self, event: dict, force: bool = False) -> None:
        event = {"time": time.time(), **event}
        self._pending.append(asyncio.run_coroutine_threadsafe(self.on_progress(self.job_id, [event]), self.loop))

    def close(self) -> None:
        for f in self._pending:
            f.result(timeout=30)
        self._pending = []


class _ThreadRunHandle:
    def __init__(self, trainer: WarmTrainer, job_id: str):
        self.trainer, self.job_id = trainer, job_id

    async def result(self) -> dict:
        return await asyncio.to_thread(self.trainer.wait, self.job_id)

    async def cancel(self) -> None:
        self.trainer.cancel(self.job_id)


class InProcessWarmPool:
    """Warm workers in this process (threads), for a manager without Ray (`jobs.train`-style use, unit tests).
    `on_progress` is the manager's coroutine, called on `loop`."""

    def __init__(self, trainers: list[WarmTrainer], on_progress, loop: asyncio.AbstractEventLoop):
        self.trainers, self.on_progress, self.loop = trainers, on_progress, loop
        self.size = len(trainers)

    def available(self, index: int) -> bool:
        return True

    def launch(self, index: int, job_id: str, request: dict) -> RunHandle:
        self.trainers[index].start(job_id, request, ManagerSink(job_id, self.on_progress, self.loop))
        return _ThreadRunHandle(self.trainers[index], job_id)

    def reattach(self, index: int, job_id: str) -> RunHandle | None:
        return _ThreadRunHandle(self.trainers[index], job_id) if self.trainers[index].has(job_id) else None

