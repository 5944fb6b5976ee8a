"""The loop's coordinator: accepts feedback, fires size/time triggers, runs one cycle per alias at a time, coalesces."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Sequence

from sqlalchemy import select

from clara_ray import observability as obs
from clara_ray.config import ClaraSettings
from clara_ray.db.engine import Database
from clara_ray.db.tables import LearningCycle, new_id
from clara_ray.events import EventLog
from clara_ray.learning.buffer import LearningBuffer
from clara_ray.learning.canary import CanaryWatcher
from clara_ray.learning.cycle import CycleFailed, CycleRunner, Evaluate, cycle_view
from clara_ray.learning.feedback import FeedbackIn, FeedbackResult, FeedbackSample
from clara_ray.learning.states import CycleReason, CycleStatus
from clara_ray.learning.training_set import Search
from clara_ray.training.control import JobsControl

log = logging.getLogger("clara.learning")


class NothingToTrain(ValueError):
    """A manual trigger for an alias without pending feedback (HTTP 409)."""


class LearningLoop:
    def __init__(self, settings: ClaraSettings, db: Database, jobs: JobsControl | None, evaluate: Evaluate | None,
                 search: Search | None = None):
        """`jobs`: the job manager cycles submit to (None, with `evaluate` None: a loop that only takes feedback);
        `search`: hybrid search for `learning.augment_with_search` (clara_ray/learning/search_augment.py)."""
        self.settings, self.db = settings, db
        self.buffer = LearningBuffer(settings, db)
        self.runner = CycleRunner(settings, db, jobs, evaluate, search)
        self.events = EventLog()
        # Open canaries live in the database (adapter_aliases + CANARY cycles): a restart resumes them here.
        self.canary = CanaryWatcher(settings, db, self.runner._finish, self.events.publish)
        self.running: dict[str, asyncio.Task] = {}
        self.coalesced: dict[str, str] = {}  # alias -> trigger that arrived while a cycle ran
        self.retry_after: dict[str, float] = {}  # alias -> no automatic cycle before (after a failure)
        self._ticker: asyncio.Task | None = None

    async def start(self) -> None:
        """Recover: cycles interrupted by a restart fail and give their samples back; then watch the triggers."""
        with self.db.session() as s:
            stale = list(s.scalars(select(LearningCycle.id).where(LearningCycle.status == CycleStatus.RUNNING.value)))
        for cycle_id in stale:
            self.runner.fail(cycle_id, CycleReason.INTERRUPTED, "interrupted by a restart of the learning buffer")
            self.buffer.release(cycle_id)
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._tick())

    async def close(self) -> None:
        for t in [self._ticker, *self.running.values()]:
            if t:
                t.cancel()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.settings.learning.check_interval_seconds)
            try:
                await self.check_canaries()
            except Exception:  # noqa: BLE001 - the ticker must survive a bad round
                log.exception("canary check failed")
            try:
                self.check()
            except Exception:  # noqa: BLE001 - the ticker must survive a bad round
                log.exception("trigger check failed")

    async def check_canaries(self) -> list[dict]:
        """Decide the canaries whose ratings (or time limit) allow it; their aliases may start cycles again."""
        done = await self.canary.check()
        for view in done:
            self._after_canary(view["alias"])
        return done

    async def end_canary(self, alias: str, promote: bool, by: str | None = None) -> dict:
        """An operator promotes or rolls back the alias's canary now (NoCanary, HTTP 404, without one)."""
        view = await self.canary.end(alias, promote, by)
        obs.record_learning_cycle(view["status"])
        self._after_canary(alias)
        return view

    def _after_canary(self, alias: str) -> None:
        pending_trigger = self.coalesced.pop(alias, None)
        if pending_trigger and self.buffer.pending.get(alias) and alias not in self.running:
            self._start(alias, pending_trigger)

    async def add(self, items: list[FeedbackIn | FeedbackSample], *, caller: str | None = None,
                  item_keys: Sequence[str | None] | None = None) -> list[FeedbackResult]:
        """Store and acknowledge feedback (see LearningBuffer.add), then check the triggers."""
        known = {a.name for a in self.runner.registry.aliases()}
        results = self.buffer.add(items, known, caller=caller, item_keys=item_keys)
        obs.set_learning_buffer_size(sum(len(v) for v in self.buffer.pending.values()))
        accepted = sum(r.accepted for r in results)
        await self.events.publish("feedback", {"accepted": accepted, "rejected": len(results) - accepted,
                                               "pending": self.buffer.stats()["pending"]})
        self.check()
        return results

    def check(self) -> None:
        now = time.time()
        for alias, trigger in self.buffer.due(now):
            if now >= self.retry_after.get(alias, 0.0):
                self._start(alias, trigger)

    def _start(self, alias: str, trigger: str) -> str:
        if alias in self.running or alias in self.canary.aliases():  # one candidate per alias at a time
            self.coalesced.setdefault(alias, trigger)
            return "coalesced"
        self.buffer.last_cycle_at[alias] = time.time()
        # Claim now, not when the task first runs: feedback arriving from here on belongs to the next cycle.
        # The cycle row exists before samples point at it, so a crash in between leaves them recoverable.
        cycle_id = new_id()
        self.runner.start_record(cycle_id, alias, trigger)
        samples = self.buffer.claim(alias, cycle_id, self.settings.learning.max_batch_size)
        if not samples:
            self.runner.fail(cycle_id, CycleReason.NOTHING_PENDING, "no pending samples")
            return "nothing pending"
        self.running[alias] = asyncio.create_task(self._cycle(alias, trigger, cycle_id, samples))
        return "started"

    async def trigger(self, alias: str) -> dict:
        if not self.buffer.pending.get(alias) and alias not in self.running:
            raise NothingToTrain(f"no pending feedback for {alias!r}")
        return {"alias": alias, "result": self._start(alias, "manual")}

    async def _cycle(self, alias: str, trigger: str, cycle_id: str, samples: list) -> None:
        try:
            await self.events.publish("cycle_started", {"cycle_id": cycle_id, "alias": alias, "trigger": trigger,
                                                        "samples": len(samples)})
            try:
                view = await self.runner.run(cycle_id, alias, samples)
            except CycleFailed as e:
                # Back off one interval so a persistently failing job does not spin; samples wait for it.
                self.retry_after[alias] = time.time() + self.settings.learning.train_interval_seconds
                self.buffer.release(cycle_id)
                view = self.cycle(cycle_id) | {"reason": str(e)}
            except Exception as e:  # noqa: BLE001 - any other error fails the cycle, samples go back
                log.exception("cycle %s failed", cycle_id)
                view = self.runner.fail(cycle_id, CycleReason.ERROR, f"{type(e).__name__}: {e}")
                self.retry_after[alias] = time.time() + self.settings.learning.train_interval_seconds
                self.buffer.release(cycle_id)
            obs.record_learning_cycle(view["status"])
            obs.set_learning_buffer_size(sum(len(v) for v in self.buffer.pending.values()))
            # A canary's decision comes later (learning/canary.py publishes its cycle_finished).
            await self.events.publish("canary_started" if view["status"] == CycleStatus.CANARY else "cycle_finished",
                                      view)
        finally:
            self.running.pop(alias, None)
            pending_trigger = self.coalesced.pop(alias, None)
            if pending_trigger and self.buffer.pending.get(alias):
                self._start(alias, pending_trigger)
            else:
                self.check()

    def cycle(self, cycle_id: str) -> dict:
        with self.db.session() as s:
            row = s.get(LearningCycle, cycle_id)
        if row is None:
            raise LookupError(f"learning cycle {cycle_id} not found")
        return self._view(row)

    def _view(self, row: LearningCycle) -> dict:
        """A cycle as the API shows it; an open canary with its live figures (version, fraction, ratings so far)."""
        view = cycle_view(row)
        if row.status == CycleStatus.CANARY:
            view["canary"] = self.canary.live(row)
        return view

    def cycles(self, alias: str | None = None, limit: int = 50) -> list[dict]:
        with self.db.session() as s:
            q = select(LearningCycle).order_by(LearningCycle.started_at.desc()).limit(limit)
            if alias:
                q = q.where(LearningCycle.alias == alias)
            rows = list(s.scalars(q))
        return [self._view(r) for r in rows]

    def stats(self) -> dict:
        return {**self.buffer.stats(), "running_cycles": sorted(self.running), "coalesced": dict(self.coalesced)}
