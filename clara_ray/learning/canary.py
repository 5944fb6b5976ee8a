"""Canary on live ratings: a candidate that passed the offline gate serves a share of its alias while the ratings of
its answers decide whether it is promoted or rolled back (rules in `judge`, state in adapter_aliases + the cycle)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Awaitable, Callable

from sqlalchemy import select

from clara_ray.adapters.registry import AdapterRegistry, AliasView, UnknownAdapter
from clara_ray.adapters.version_status import VersionStatus
from clara_ray.config import ClaraSettings
from clara_ray.learning.settings import LearningSettings
from clara_ray.db.engine import Database
from clara_ray.db.tables import LearningCycle
from clara_ray.learning.ratings import VersionRating, ratings_for_versions
from clara_ray.learning.states import CycleReason, CycleStatus
from clara_ray.serving.revision_client import announce_alias

log = logging.getLogger("clara.learning")

NEUTRAL_BASELINE = 0.5
"""The bar when the active version has no rated answers at all: the middle of the 0..1 rating scale."""


class CanaryOutcome(str, Enum):
    PROMOTE = "promote"
    ROLL_BACK = "roll_back"
    WAIT = "wait"


@dataclass(frozen=True)
class CanaryLimits:
    min_ratings: int
    margin: float
    max_seconds: float

    @classmethod
    def of(cls, cfg: LearningSettings) -> CanaryLimits:
        return cls(cfg.canary_min_ratings, cfg.canary_margin, cfg.canary_max_seconds)


@dataclass(frozen=True)
class CanaryVerdict:
    outcome: CanaryOutcome
    reason: str
    code: CycleReason | None = None
    """The cycle's reason_code once decided (a rolled-back canary also lists it in failed_criteria)."""
    figures: dict = field(default_factory=dict)


def _count(r: VersionRating | None) -> int:
    return r.feedback if r is not None and r.mean_rating is not None else 0


def _bar(active: VersionRating | None, beside: VersionRating | None, min_ratings: int) -> tuple[float, str, str]:
    """(bar, where it comes from, what it is). The active version's ratings given since the canary started
    (`beside`) are the fair comparison (same days, same traffic mix): their mean once there are `min_ratings` of
    them, as many as the canary needs itself. Until then the active version's mean over all its ratings; without
    any, NEUTRAL_BASELINE."""
    n_beside, n_active = _count(beside), _count(active)
    if n_beside >= min_ratings:
        return beside.mean_rating, "beside", f"the active version's {beside.mean_rating:.3f} over {n_beside} " \
                                             "ratings given beside it"
    if n_active:
        return active.mean_rating, "all", f"the active version's {active.mean_rating:.3f} over {n_active} ratings"
    return NEUTRAL_BASELINE, "neutral", f"the neutral {NEUTRAL_BASELINE:.3f} (the active version has no ratings)"


def judge(canary: VersionRating | None, active: VersionRating | None, limits: CanaryLimits,
          age_seconds: float, beside: VersionRating | None = None) -> CanaryVerdict:
    """The rules. Once the canary has at least `min_ratings` rated answers it is promoted when its mean rating is at
    least the bar minus `margin`, and rolled back otherwise. The bar (`_bar`) is the active version's mean rating
    over its ratings given since the canary started (`beside`) when it has `min_ratings` of them, else over all
    its rated answers; when the active version has none, it is NEUTRAL_BASELINE (0.5): the canary must then be rated
    at least neutral (less the margin) by itself. Without enough ratings after `max_seconds` the canary is rolled
    back. Otherwise it waits."""
    n = _count(canary)
    mean = canary.mean_rating if n else None
    bar, bar_from, against = _bar(active, beside, limits.min_ratings)
    n_active, n_beside = _count(active), _count(beside)
    figures = {"canary_ratings": n, "canary_mean": mean, "active_ratings": n_active,
               "active_mean": active.mean_rating if n_active else None, "active_ratings_beside": n_beside,
               "active_mean_beside": beside.mean_rating if n_beside else None, "bar_from": bar_from,
               "bar": round(bar, 4), "margin": limits.margin, "min_ratings": limits.min_ratings,
               "age_seconds": round(age_seconds, 1)}
    if n >= limits.min_ratings:
        if mean >= bar - limits.margin - 1e-9:
            return CanaryVerdict(CanaryOutcome.PROMOTE, f"canary mean rating {mean:.3f} over {n} ratings is not worse "
                                 f"than {against} by more than {limits.margin:.3f}", CycleReason.CANARY_RATINGS_HELD,
                                 figures)
        return CanaryVerdict(CanaryOutcome.ROLL_BACK, f"canary mean rating {mean:.3f} over {n} ratings is worse than "
                             f"{against} by more than {limits.margin:.3f}", CycleReason.CANARY_RATINGS_WORSE, figures)
    if age_seconds >= limits.max_seconds:
        return CanaryVerdict(CanaryOutcome.ROLL_BACK, f"canary ran {age_seconds:.0f} s (limit {limits.max_seconds:.0f})"
                             f" with {n} of {limits.min_ratings} ratings needed", CycleReason.CANARY_TIMED_OUT, figures)
    return CanaryVerdict(CanaryOutcome.WAIT, f"{n} of {limits.min_ratings} ratings", None, figures)


class NoCanary(UnknownAdapter):
    """The alias runs no canary (HTTP 404 when an operator tries to end one; the message names the adapter)."""


Finish = Callable[..., dict]  # CycleRunner._finish(cycle_id, status, code, **fields) -> cycle view
Publish = Callable[[str, dict], Awaitable[object]]  # EventLog.publish(type, data)


class CanaryWatcher:
    """Decides the open canaries: every learning cycle in CycleStatus.CANARY (the state is in the database, so a
    restarted learning buffer resumes them). `check` is called from the loop's ticker, `end` by an operator."""

    def __init__(self, settings: ClaraSettings, db: Database, finish: Finish, publish: Publish,
                 clock: Callable[[], float] = time.time):
        self.settings, self.db, self.finish, self.publish, self.clock = settings, db, finish, publish, clock
        self.registry = AdapterRegistry(db)
        self._deciding = asyncio.Lock()  # the ticker and an operator never decide one canary twice

    def open_cycles(self) -> list[LearningCycle]:
        with self.db.session() as s:
            return list(s.scalars(select(LearningCycle).where(LearningCycle.status == CycleStatus.CANARY.value)
                                  .order_by(LearningCycle.started_at)))

    def aliases(self) -> set[str]:
        """Aliases with an open canary: no new cycle starts for them until it is decided."""
        return {c.alias for c in self.open_cycles()}

    def _alias(self, name: str) -> AliasView | None:
        return self.registry.alias(name)

    def live(self, cycle: LearningCycle) -> dict | None:
        """The canary of an open cycle as the API and console show it: version, fraction, started_at, ratings so
        far and what `judge` says now."""
        alias = self._alias(cycle.alias)
        if alias is None or alias.canary_version_id != cycle.candidate_version_id:
            return None
        verdict = self._judge(alias)
        return {"version": f"{alias.name}@v{alias.canary_version}", "version_id": alias.canary_version_id,
                "fraction": alias.canary_fraction,
                "started_at": alias.canary_started_at.isoformat() if alias.canary_started_at else None,
                "outcome": verdict.outcome.value, "status": verdict.reason, **verdict.figures}

    def _judge(self, alias: AliasView) -> CanaryVerdict:
        figures = ratings_for_versions(self.db, [alias.canary_version_id, alias.version_id])
        beside = (ratings_for_versions(self.db, [alias.version_id], rated_since=alias.canary_started_at)
                  if alias.canary_started_at else {})
        started = alias.canary_started_at or datetime.now(timezone.utc)
        if started.tzinfo is None:
            started = started.replace(tzinfo=timezone.utc)
        age = self.clock() - started.timestamp()
        return judge(figures.get(alias.canary_version_id), figures.get(alias.version_id),
                     CanaryLimits.of(self.settings.learning), age, beside.get(alias.version_id))

    async def check(self) -> list[dict]:
        """Decide every open canary that can be decided; returns the cycles it finished (events published)."""
        async with self._deciding:
            return await self._check()

    async def _check(self) -> list[dict]:
        done, cycles = [], self.open_cycles()
        for cycle in cycles:
            alias = self._alias(cycle.alias)
            if alias is None or alias.canary_version_id != cycle.candidate_version_id:
                done.append(await self._ended_elsewhere(cycle))
                continue
            verdict = self._judge(alias)
            if verdict.outcome != CanaryOutcome.WAIT:
                done.append(await self._conclude(cycle, verdict))
        held = {c.candidate_version_id for c in cycles}
        for alias in self.registry.aliases():  # a canary whose cycle failed after it started: nobody decides it
            if alias.canary_version_id and alias.canary_version_id not in held:
                moved = self.registry.end_canary(alias.name, promote=False,
                                                 reason="rolled back: no open learning cycle holds this canary")
                await announce_alias(self.settings, moved)
                log.warning("canary %s@v%s of %s had no open cycle: rolled back", alias.name, alias.canary_version,
                            alias.name)
        return done

    async def end(self, alias: str, promote: bool, by: str | None = None) -> dict:
        """An operator ends the alias's canary early: promote it or roll it back (NoCanary without one)."""
        async with self._deciding:
            return await self._end(alias, promote, by)

    async def _end(self, alias: str, promote: bool, by: str | None) -> dict:
        cycle = next((c for c in self.open_cycles() if c.alias == alias), None)
        view = self._alias(alias)
        if cycle is None or view is None or view.canary_version_id != cycle.candidate_version_id:
            raise NoCanary(f"adapter {alias!r} runs no canary")
        measured = self._judge(view)
        who = f" by {by}" if by else ""
        if promote:
            verdict = CanaryVerdict(CanaryOutcome.PROMOTE, f"promoted early{who} ({measured.reason})",
                                    CycleReason.OPERATOR, measured.figures)
        else:
            verdict = CanaryVerdict(CanaryOutcome.ROLL_BACK, f"rolled back early{who} ({measured.reason})",
                                    CycleReason.OPERATOR, measured.figures)
        return await self._conclude(cycle, verdict)

    async def _conclude(self, cycle: LearningCycle, verdict: CanaryVerdict) -> dict:
        promote = verdict.outcome == CanaryOutcome.PROMOTE
        moved = self.registry.end_canary(cycle.alias, promote=promote,
                                         reason=f"learning cycle {cycle.id}: {verdict.reason}")
        await announce_alias(self.settings, moved)  # every replica drops the canary (and serves the promoted one)
        after = dict(cycle.metrics_after or {})
        after["canary"] = verdict.figures
        if not promote:
            after["failed_criteria"] = [*after.get("failed_criteria", []),
                                        {"code": verdict.code.value, "message": verdict.reason}]
        durations = dict(cycle.durations or {})
        durations["canary"] = verdict.figures.get("age_seconds")
        status = CycleStatus.PROMOTED if promote else CycleStatus.ROLLED_BACK
        log.info("canary of cycle %s %s: %s", cycle.id, status.value, verdict.reason)
        view = self.finish(cycle.id, status, verdict.code, reason=verdict.reason, metrics_after=after,
                           durations=durations)
        await self.publish("cycle_finished", view)
        return view

    async def _ended_elsewhere(self, cycle: LearningCycle) -> dict:
        """The alias no longer runs this cycle's canary (an operator activated a version, or a crash came between
        the cycle's CANARY status and the alias's canary): the cycle follows what became of the version."""
        version = self.registry.get_version(cycle.candidate_version_id)
        if version.status == VersionStatus.ACTIVE:
            status, reason = CycleStatus.PROMOTED, "the canary version was activated outside the canary"
        else:
            status, reason = CycleStatus.ROLLED_BACK, "the canary ended outside the learning loop"
            if version.status in (VersionStatus.CANARY, VersionStatus.CANDIDATE):
                self.registry.set_status(version.id, VersionStatus.REJECTED, f"learning cycle {cycle.id}: {reason}")
        after = dict(cycle.metrics_after or {})
        if status == CycleStatus.ROLLED_BACK:
            after["failed_criteria"] = [*after.get("failed_criteria", []),
                                        {"code": CycleReason.OPERATOR.value, "message": reason}]
        view = self.finish(cycle.id, status, CycleReason.OPERATOR, reason=reason, metrics_after=after)
        await self.publish("cycle_finished", view)
        return view
