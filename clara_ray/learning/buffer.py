"""Durable learning buffer: accepted feedback is in the database before it is acknowledged; memory is a rebuildable view.

A sample is pending while `feedback.cycle_id` is NULL. A cycle claims samples by setting their cycle_id
(compare-and-set on NULL), so after any restart nothing acknowledged is lost and nothing claimed is
claimed again. Samples dropped for space get cycle_id "dropped". Feedback on a logged completion that is not
worth training on (a thumbs-down without a correction) is still kept as a rating of the version that answered,
with cycle_id "rating": the per-version figures count it, no cycle ever claims it.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func, insert, or_, select, update

from clara_ray.config import ClaraSettings
from clara_ray.records import QualityLimits
from clara_ray.db.engine import Database
from clara_ray.db.tables import Feedback, LearningCycle, new_id, utcnow
from clara_ray.learning.feedback import FeedbackIn, FeedbackSample, score

DROPPED = "dropped"
RATING_ONLY = "rating"


@dataclass
class Pending:
    id: str
    alias: str
    priority: float
    at: float


class LearningBuffer:
    def __init__(self, settings: ClaraSettings, db: Database):
        self.cfg = settings.learning
        self.limits = QualityLimits(settings.data.min_length, settings.data.max_length)
        self.db = db
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

    def add(self, items: list[FeedbackSample | FeedbackIn], known_aliases: set[str] | None = None) -> list[dict]:
        """Score, persist the accepted ones in one transaction, then acknowledge. Returns one result per item.

        FeedbackIn items must be inline; feedback by completion id arrives resolved (FeedbackSample)."""
        results, rows, ratings, now = [], [], [], time.time()
        batch_keys: set[str] = set()
        rated = self._rated_completions([i.completion_id for i in items if isinstance(i, FeedbackSample)])
        for item in items:
            fb = item.sample() if isinstance(item, FeedbackIn) else item
            if fb.completion_id is not None and fb.completion_id in rated:
                self.counts["rejected"] += 1
                results.append({"accepted": False, "quality": 0.0,
                                "reason": f"feedback on completion {fb.completion_id} was already given"})
                continue
            if fb.completion_id is not None:
                rated.add(fb.completion_id)
            key = fb.key()
            quality, reason = score(fb, self.limits, key in self.hashes or key in batch_keys)
            if known_aliases is not None and fb.adapter not in known_aliases:
                quality, reason = 0.0, f"unknown adapter {fb.adapter!r}"
            if reason is None and quality < self.cfg.quality_threshold:
                reason = f"quality {quality:.2f} below threshold {self.cfg.quality_threshold}"
            row = {"id": new_id(), "alias": fb.adapter, "prompt": fb.prompt, "response": fb.response,
                   "correction": fb.correction, "rating": fb.rating, "importance": fb.importance,
                   "quality": quality, "source": fb.source, "content_hash": key, "cycle_id": None,
                   "created_at": utcnow(), "completion_id": fb.completion_id, "version_id": fb.version_id}
            if reason:
                self.counts["rejected"] += 1
                self.counts["rejected: " + reason.split(" (")[0]] += 1
                result = {"accepted": False, "quality": round(quality, 3), "reason": reason}
                if fb.version_id is not None:  # not trained on, but what the user thought of that version counts
                    ratings.append({**row, "cycle_id": RATING_ONLY})
                    result["rating_recorded"] = True
                results.append(result)
                continue
            batch_keys.add(key)
            rows.append(row)
            results.append({"accepted": True, "id": row["id"], "quality": round(quality, 3), "reason": None})
        if ratings:
            with self.db.session() as s:
                s.execute(insert(Feedback), ratings)
        if rows:
            with self.db.session() as s:
                s.execute(insert(Feedback), rows)
            # Only after the commit: what is acknowledged is durable.
            for r in rows:
                self.hashes.add(r["content_hash"])
                self._remember(Pending(r["id"], r["alias"], r["importance"] * max(r["rating"], 0.1) * r["quality"], now))
            self.counts["accepted"] += len(rows)
            self._enforce_bound()
        return results

    def _rated_completions(self, completion_ids: list[str | None]) -> set[str]:
        """Those of these completions that already have feedback (one answer, one rating)."""
        ids = [c for c in completion_ids if c]
        if not ids:
            return set()
        with self.db.session() as s:
            return set(s.scalars(select(Feedback.completion_id).where(Feedback.completion_id.in_(ids))))

    def _enforce_bound(self) -> None:
        total = sum(len(v) for v in self.pending.values())
        if total <= self.cfg.buffer_size:
            return
        everything = sorted((p for v in self.pending.values() for p in v.values()), key=lambda p: (p.priority, p.at))
        drop = everything[: total - self.cfg.buffer_size]
        with self.db.session() as s:
            s.execute(update(Feedback).where(Feedback.id.in_([p.id for p in drop]), Feedback.cycle_id.is_(None))
                      .values(cycle_id=DROPPED))
        for p in drop:
            self.pending[p.alias].pop(p.id, None)
        self.counts["dropped"] += len(drop)

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
        with self.db.session() as s:
            persisted = s.scalar(select(func.count()).select_from(Feedback)) or 0
            trained = s.scalar(select(func.count()).select_from(Feedback).where(
                Feedback.cycle_id.is_not(None), Feedback.cycle_id.not_in([DROPPED, RATING_ONLY]))) or 0
        return {"pending": {a: len(v) for a, v in self.pending.items() if v},
                "pending_total": sum(len(v) for v in self.pending.values()),
                "buffer_size": self.cfg.buffer_size, "quality_threshold": self.cfg.quality_threshold,
                "min_batch_size": self.cfg.min_batch_size, "train_interval_seconds": self.cfg.train_interval_seconds,
                "persisted_total": persisted, "claimed_by_cycles": trained, "since_start": dict(self.counts)}
