"""Durable learning buffer: accepted feedback is in the database before it is acknowledged; memory is a rebuildable view.

A sample is pending while `feedback.cycle_id` is NULL. A cycle claims samples by setting their cycle_id
(compare-and-set on NULL), so after any restart nothing acknowledged is lost and nothing claimed is
claimed again. Feedback on a logged completion that is not worth training on (a thumbs-down without a
correction) is still kept as a rating of the version that answered, with cycle_id "rating": the per-version
figures count it, no cycle ever claims it.

Before a sample is taken, the screen (learning/screen.py) refuses one whose prompt is an evaluation prompt of its
alias, or whose text is unrelated to the alias's data (`learning.min_relevance`). Of the accepted samples a fixed
share (`learning.eval_holdout_fraction`, by content hash) is held out with cycle_id "eval": the alias's growing
evaluation set, scored by the gate, never claimed by a cycle (learning/evalset.py).

At `learning.buffer_size` pending samples the `learning.overflow` policy applies: "wait" (default) refuses new
samples (rejected, `retryable`) so that nothing acknowledged is ever dropped; "drop_lowest" queues them and marks
the lowest-priority pending samples cycle_id "dropped", counted and reported in `stats()`.

A retried request is answered as stored, not as a duplicate: a sample from the same caller with the same
Idempotency-Key item key, or identical in every field to one the caller already stored, returns that sample's
result with `replayed` set.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

from sqlalchemy import func, insert, or_, select, update

from clara_ray import observability as obs
from clara_ray.config import ClaraSettings
from clara_ray.records import QualityLimits
from clara_ray.db.engine import Database
from clara_ray.db.tables import Feedback, LearningCycle, new_id, utcnow
from clara_ray.learning.evalset import EVAL_HOLDOUT, is_holdout
from clara_ray.learning.feedback import (FeedbackIn, FeedbackResult, FeedbackSample, FeedbackStatus, Refusal,
                                       RefusalCode, score)
from clara_ray.learning.screen import FeedbackScreen, ScreenResult

DROPPED = "dropped"
RATING_ONLY = "rating"

log = logging.getLogger("clara.learning")


class BufferFull(RuntimeError):
    """Nothing of a feedback request was stored because the buffer is full (HTTP 503 with Retry-After)."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class Pending:
    id: str
    alias: str
    priority: float
    at: float


class LearningBuffer:
    def __init__(self, settings: ClaraSettings, db: Database, screen: FeedbackScreen | None = None):
        self.cfg = settings.learning
        self.limits = QualityLimits(settings.data.min_length, settings.data.max_length)
        self.db = db
        self.screen = screen or FeedbackScreen(settings, db)  # evaluation-record match, domain relevance
        self.pending: dict[str, dict[str, Pending]] = {}
        self.hashes: set[str] = set()
        self.last_cycle_at: dict[str, float] = {}
        self.counts = Counter()
        self.rebuild()

    def rebuild(self) -> None:
        """Load the pending view from the database (start and restart of the actor)."""
        self.pending.clear()
        with self.db.session() as s:
            for row in s.execute(select(Feedback.id, Feedback.alias, Feedback.importance, Feedback.rating,
                                        Feedback.quality, Feedback.created_at).where(Feedback.cycle_id.is_(None))):
                self._remember(Pending(row.id, row.alias, row.importance * max(row.rating, 0.1) * row.quality,
                                       row.created_at.timestamp()))
            self.hashes = set(s.scalars(select(Feedback.content_hash).where(  # ratings alone do not make duplicates
                or_(Feedback.cycle_id.is_(None), Feedback.cycle_id != RATING_ONLY))))
            for alias, at in s.execute(select(LearningCycle.alias, func.max(LearningCycle.started_at))
                                       .group_by(LearningCycle.alias)):
                self.last_cycle_at[alias] = at.timestamp()

    def _remember(self, p: Pending) -> None:
        self.pending.setdefault(p.alias, {})[p.id] = p

    def add(self, items: list[FeedbackSample | FeedbackIn], known_aliases: set[str] | None = None, *,
            caller: str | None = None, item_keys: Sequence[str | None] | None = None) -> list[FeedbackResult]:
        """Score, persist the accepted ones in one transaction, then acknowledge. Returns one result per item.

        FeedbackIn items must be inline; feedback by completion id arrives resolved (FeedbackSample).
        `caller`: who sent them (retries are recognised per caller); `item_keys`: per item, the request's
        Idempotency-Key and the item's position ("<key>#<i>"), or None."""
        results: list[FeedbackResult] = []
        rows, ratings, now = [], [], time.time()
        batch_keys: set[str] = set()
        samples = [item.sample() if isinstance(item, FeedbackIn) else item for item in items]
        keys = list(item_keys) if item_keys is not None else [None] * len(samples)
        earlier = self._stored_by(caller, samples, keys)
        rated = self._rated_completions([fb.completion_id for fb in samples])
        room = self._room()
        screened = self._screen(samples)
        for fb, ikey, verdict in zip(samples, keys, screened):
            replay = self._replay(earlier, fb, ikey)
            if replay is not None:
                self.counts["replayed"] += 1
                results.append(replay)
                continue
            if fb.completion_id is not None and fb.completion_id in rated:
                results.append(self._reject(Refusal(RefusalCode.ALREADY_RATED,
                                                    f"feedback on completion {fb.completion_id} was already given")))
                continue
            key = fb.key()
            quality, refusal = score(fb, self.limits, key in self.hashes or key in batch_keys)
            if known_aliases is not None and fb.adapter not in known_aliases:
                quality, refusal = 0.0, Refusal(RefusalCode.UNKNOWN_ADAPTER, f"unknown adapter {fb.adapter!r}")
            if refusal is None and quality < self.cfg.quality_threshold:
                refusal = Refusal(RefusalCode.LOW_QUALITY,
                                  f"quality {quality:.2f} below threshold {self.cfg.quality_threshold}")
            if refusal is None:
                refusal = verdict.refusal
            row = {"id": new_id(), "alias": fb.adapter, "prompt": fb.prompt, "response": fb.response,
                   "correction": fb.correction, "rating": fb.rating, "importance": fb.importance,
                   "quality": quality, "source": fb.source, "content_hash": key, "cycle_id": None,
                   "created_at": utcnow(), "completion_id": fb.completion_id, "version_id": fb.version_id,
                   "caller": caller, "idempotency_key": ikey}
            if refusal is None and is_holdout(key, self.cfg.eval_holdout_fraction):
                # The alias's evaluation set grows: stored, scored by the gate, never claimed by a cycle.
                batch_keys.add(key)
                rows.append({**row, "cycle_id": EVAL_HOLDOUT})
                if fb.completion_id is not None:
                    rated.add(fb.completion_id)
                results.append(FeedbackResult(status=FeedbackStatus.HELD_OUT, accepted=True, id=row["id"],
                                              quality=round(quality, 3)))
                continue
            if refusal is None and room is not None and room <= 0:
                results.append(self._reject(Refusal(
                    RefusalCode.BUFFER_FULL,
                    f"buffer full: {self.cfg.buffer_size} samples wait for training (learning.buffer_size); "
                    f"retry after {self.cfg.full_retry_after_seconds} s"), quality=quality, retryable=True))
                continue
            if fb.completion_id is not None:
                rated.add(fb.completion_id)
            if refusal and fb.version_id is not None:  # not trained on, but what the user thought of it counts
                ratings.append({**row, "cycle_id": RATING_ONLY})
                self.counts["rating_only"] += 1
                obs.record_feedback("rating_only")
                results.append(FeedbackResult(status=FeedbackStatus.RATING_ONLY, accepted=False, id=row["id"],
                                              quality=round(quality, 3), reason=refusal.message,
                                              reason_code=refusal.code, rating_recorded=True))
                continue
            if refusal:
                results.append(self._reject(refusal, quality=quality))
                continue
            batch_keys.add(key)
            rows.append(row)
            if room is not None:
                room -= 1
            results.append(FeedbackResult(status=FeedbackStatus.QUEUED, accepted=True, id=row["id"],
                                          quality=round(quality, 3)))
        if ratings:
            with self.db.session() as s:
                s.execute(insert(Feedback), ratings)
        if rows:
            with self.db.session() as s:
                s.execute(insert(Feedback), rows)
            # Only after the commit: what is acknowledged is durable.
            for r in rows:
                self.hashes.add(r["content_hash"])
                if r["cycle_id"] is None:
                    self._remember(Pending(r["id"], r["alias"], r["importance"] * max(r["rating"], 0.1) * r["quality"],
                                           now))
                else:  # held out: from now on an evaluation prompt of its alias
                    self.screen.held_out(r["alias"], r["prompt"])
            held = sum(r["cycle_id"] == EVAL_HOLDOUT for r in rows)
            self.counts["accepted"] += len(rows) - held
            self.counts["held_out"] += held
            obs.record_feedback("queued", len(rows) - held)
            obs.record_feedback("held_out", held)
            self._enforce_bound()
        return results

    def _screen(self, samples: list[FeedbackSample]) -> list[ScreenResult]:
        """The screen's verdict per sample (learning/screen.py). If it cannot run (say the embedding model fails to
        load), feedback is still taken, unscreened: counted as "screen_unavailable" and logged."""
        try:
            return self.screen.check([fb.adapter for fb in samples], [fb.prompt for fb in samples],
                                     [fb.target() for fb in samples])
        except Exception:  # noqa: BLE001 - a broken relevance index must not stop feedback intake
            log.exception("feedback screen unavailable")
            self.counts["screen_unavailable"] += len(samples)
            return [ScreenResult() for _ in samples]

    def _reject(self, refusal: Refusal, *, quality: float = 0.0, retryable: bool = False) -> FeedbackResult:
        self.counts["rejected"] += 1
        self.counts[f"rejected: {refusal.code.value}"] += 1
        if retryable:
            self.counts["refused_full"] += 1
        obs.record_feedback("refused_full" if retryable else "rejected")
        return FeedbackResult(status=FeedbackStatus.REJECTED, accepted=False, quality=round(quality, 3),
                              reason=refusal.message, reason_code=refusal.code, retryable=retryable,
                              retry_after=self.cfg.full_retry_after_seconds if retryable else None)

    def _room(self) -> int | None:
        """How many more samples may be queued now (None: unbounded, the drop policy makes room)."""
        if self.cfg.overflow != "wait":
            return None
        return self.cfg.buffer_size - sum(len(v) for v in self.pending.values())

    def _stored_by(self, caller: str | None, samples: list[FeedbackSample],
                   keys: list[str | None]) -> list[Feedback]:
        """The caller's stored rows that carry one of these item keys or content hashes (retry candidates)."""
        if caller is None or not samples:
            return []
        wanted_keys = [k for k in keys if k]
        cond = Feedback.content_hash.in_({fb.key() for fb in samples})
        if wanted_keys:
            cond = or_(cond, Feedback.idempotency_key.in_(wanted_keys))
        with self.db.session() as s:
            return list(s.scalars(select(Feedback).where(Feedback.caller == caller, cond)))

    @staticmethod
    def _replay(earlier: list[Feedback], fb: FeedbackSample, ikey: str | None) -> FeedbackResult | None:
        """The stored result of an earlier request this item repeats: same item key, or the same sample in every
        field (a retry without a key); None if it is new."""
        same = next((r for r in earlier if ikey and r.idempotency_key == ikey), None) or next(
            (r for r in earlier if r.content_hash == fb.key() and
             (r.prompt, r.response, r.correction, r.rating, r.importance, r.completion_id, r.source) ==
             (fb.prompt, fb.response, fb.correction, fb.rating, fb.importance, fb.completion_id, fb.source)), None)
        if same is None:
            return None
        if same.cycle_id == EVAL_HOLDOUT:
            return FeedbackResult(status=FeedbackStatus.HELD_OUT, accepted=True, id=same.id,
                                  quality=round(same.quality, 3), replayed=True)
        if same.cycle_id == RATING_ONLY:
            return FeedbackResult(status=FeedbackStatus.RATING_ONLY, accepted=False, id=same.id,
                                  quality=round(same.quality, 3), rating_recorded=True, replayed=True,
                                  reason="already stored as a rating of the version that answered")
        return FeedbackResult(status=FeedbackStatus.QUEUED, accepted=True, id=same.id,
                              quality=round(same.quality, 3), replayed=True)

    def _rated_completions(self, completion_ids: list[str | None]) -> set[str]:
        """Those of these completions that already have feedback (one answer, one rating)."""
        ids = [c for c in completion_ids if c]
        if not ids:
            return set()
        with self.db.session() as s:
            return set(s.scalars(select(Feedback.completion_id).where(Feedback.completion_id.in_(ids))))

    def _enforce_bound(self) -> None:
        """Overflow "drop_lowest" only: mark the lowest-priority pending samples dropped (counted, reported)."""
        total = sum(len(v) for v in self.pending.values())
        if self.cfg.overflow != "drop_lowest" or total <= self.cfg.buffer_size:
            return
        everything = sorted((p for v in self.pending.values() for p in v.values()), key=lambda p: (p.priority, p.at))
        drop = everything[: total - self.cfg.buffer_size]
        with self.db.session() as s:
            s.execute(update(Feedback).where(Feedback.id.in_([p.id for p in drop]), Feedback.cycle_id.is_(None))
                      .values(cycle_id=DROPPED))
        for p in drop:
            self.pending[p.alias].pop(p.id, None)
        self.counts["dropped"] += len(drop)
        obs.record_feedback("dropped", len(drop))

    def get_quality_batch(self, alias: str, limit: int) -> list[Pending]:
        """Highest priority first (importance x rating x quality), oldest first among equals."""
        return sorted(self.pending.get(alias, {}).values(), key=lambda p: (-p.priority, p.at))[:limit]

    def claim(self, alias: str, cycle_id: str, limit: int) -> list[Feedback]:
        """Mark up to `limit` pending samples as this cycle's; returns their rows."""
        ids = [p.id for p in self.get_quality_batch(alias, limit)]
        with self.db.session() as s:
            s.execute(update(Feedback).where(Feedback.id.in_(ids), Feedback.cycle_id.is_(None)).values(cycle_id=cycle_id))
            rows = list(s.scalars(select(Feedback).where(Feedback.cycle_id == cycle_id)))
        for r in rows:
            self.pending.get(alias, {}).pop(r.id, None)
        return rows

    def release(self, cycle_id: str) -> int:
        """Give a failed cycle's samples back (they were not trained into anything that is kept)."""
        with self.db.session() as s:
            rows = list(s.scalars(select(Feedback).where(Feedback.cycle_id == cycle_id)))
            for r in rows:
                r.cycle_id = None
        for r in rows:
            self._remember(Pending(r.id, r.alias, r.importance * max(r.rating, 0.1) * r.quality, r.created_at.timestamp()))
        return len(rows)

    def due(self, now: float | None = None) -> list[tuple[str, str]]:
        """(alias, trigger) pairs whose size or time trigger fires."""
        now = now or time.time()
        out = []
        for alias, items in self.pending.items():
            if len(items) >= self.cfg.min_batch_size:
                out.append((alias, "size"))
            elif items:
                since = self.last_cycle_at.setdefault(alias, min(p.at for p in items.values()))
                if now - since >= self.cfg.train_interval_seconds:
                    out.append((alias, "time"))
        return out

    def stats(self) -> dict:
        """What the buffer holds and what became of the feedback (GET /api/learning/buffer, the console)."""
        with self.db.session() as s:
            persisted = s.scalar(select(func.count()).select_from(Feedback)) or 0
            dropped = s.scalar(select(func.count()).select_from(Feedback).where(Feedback.cycle_id == DROPPED)) or 0
            ratings = s.scalar(select(func.count()).select_from(Feedback).where(Feedback.cycle_id == RATING_ONLY)) or 0
            trained = s.scalar(select(func.count()).select_from(Feedback).where(
                Feedback.cycle_id.is_not(None), Feedback.cycle_id.not_in([DROPPED, RATING_ONLY, EVAL_HOLDOUT]))) or 0
            held_out = s.scalar(select(func.count()).select_from(Feedback).where(
                Feedback.cycle_id == EVAL_HOLDOUT)) or 0
        pending_total = sum(len(v) for v in self.pending.values())
        return {"pending": {a: len(v) for a, v in self.pending.items() if v},
                "pending_total": pending_total,
                "buffer_size": self.cfg.buffer_size, "overflow": self.cfg.overflow,
                "full": self.cfg.overflow == "wait" and pending_total >= self.cfg.buffer_size,
                "quality_threshold": self.cfg.quality_threshold,
                "min_batch_size": self.cfg.min_batch_size, "max_batch_size": self.cfg.max_batch_size,
                "train_interval_seconds": self.cfg.train_interval_seconds,
                "persisted_total": persisted, "claimed_by_cycles": trained, "dropped_total": dropped,
                "ratings_only_total": ratings, "held_out_total": held_out,
                "eval_holdout_fraction": self.cfg.eval_holdout_fraction, "since_start": dict(self.counts)}
