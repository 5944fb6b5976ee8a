"""Durable log of every generation served: a bounded queue drained in batches by one writer thread, plus reads."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, func, insert, or_, select

from clara_ray.serving.settings import CompletionLogSettings
from clara_ray.db.engine import Database
from clara_ray.db.tables import Completion
from clara_ray.observability.metrics import record_completion_log_dropped

log = logging.getLogger("clara.completion_log")

RETENTION_EVERY_SECONDS = 3600.0  # the writer deletes expired rows at its first pass and then hourly


def purge_completions(db: Database, retention_days: int, now: datetime | None = None) -> int:
    """Delete logged generations older than `retention_days`; returns how many (the writer and clara_ray.retention)."""
    cutoff = _utc(now or datetime.now(timezone.utc)) - timedelta(days=retention_days)
    with db.session() as s:
        return s.execute(delete(Completion).where(Completion.created_at < cutoff)).rowcount or 0


class CompletionNotFound(LookupError):
    """No such completion, or one the caller may not see (HTTP 404 either way: ids of others do not leak)."""


def _utc(at: datetime) -> datetime:
    """Naive = UTC; aware values converted (SQLite compares the stored UTC text)."""
    return at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at.astimezone(timezone.utc)


@dataclass(frozen=True)
class CompletionRecord:
    """One generation as served: the id the client got, the version that answered, prompt and output."""

    id: str                      # the id returned to the client: "chatcmpl-…", "cmpl-…", or "gen-…" (native routes)
    route: str                   # "chat" | "completion" | "generate"
    model: str                   # what the client asked for ("" when the router chose)
    version_id: str | None       # adapter version row id; None = the base model
    version_ref: str | None      # "baurecht@v3"; None = the base model
    prompt: str                  # the rendered prompt text
    messages: list[dict] | None  # chat messages as received (None for text prompts)
    output: str
    finish_reason: str | None    # "stop" | "length" | "error"
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    caller: str | None           # the authenticated Principal.subject ("anonymous" in security mode off)
    created_at: datetime         # tz-aware UTC
    error: str | None = None

    @property
    def alias(self) -> str | None:
        """The adapter name (version_ref before "@"); None for the base model."""
        return self.version_ref.split("@", 1)[0] if self.version_ref else None


def _row(rec: CompletionRecord) -> dict:
    return {"id": rec.id, "route": rec.route, "model": rec.model or "", "version_id": rec.version_id,
            "version_ref": rec.version_ref, "alias": rec.alias, "prompt": rec.prompt, "messages": rec.messages,
            "output": rec.output, "finish_reason": rec.finish_reason, "prompt_tokens": int(rec.prompt_tokens),
            "completion_tokens": int(rec.completion_tokens), "latency_ms": float(rec.latency_ms),
            "caller": rec.caller, "created_at": _utc(rec.created_at), "error": rec.error}


def _record(row: Completion) -> CompletionRecord:
    return CompletionRecord(id=row.id, route=row.route, model=row.model, version_id=row.version_id,
                            version_ref=row.version_ref, prompt=row.prompt, messages=row.messages, output=row.output,
                            finish_reason=row.finish_reason, prompt_tokens=row.prompt_tokens,
                            completion_tokens=row.completion_tokens, latency_ms=row.latency_ms, caller=row.caller,
                            created_at=row.created_at, error=row.error)


class CompletionLog:
    """`record()` is cheap and never raises; one daemon thread writes batches, applies retention, serves `flush()`."""

    def __init__(self, db: Database, cfg: CompletionLogSettings, *, rng: random.Random | None = None):
        self.db, self.cfg = db, cfg
        self._rng = rng or random.Random()
        self._cond = threading.Condition()
        self._queued: OrderedDict[str, CompletionRecord] = OrderedDict()  # waiting for the writer
        self._writing: dict[str, CompletionRecord] = {}  # taken by the writer, not yet committed
        self._flush_requested = 0  # flush() calls so far
        self._flush_done = 0  # the writer's passes have covered flush requests up to this number
        self._next_purge = 0.0  # monotonic time of the next retention pass
        self._closed = False
        self.dropped = 0  # records shed because the queue was full (also in clara_completion_log_dropped_total)
        self._thread: threading.Thread | None = None
        if cfg.enabled:
            self._thread = threading.Thread(target=self._run, name="clara-completion-log", daemon=True)
            self._thread.start()

    # ---- hot path ------------------------------------------------------------------------------------------

    def record(self, rec: CompletionRecord) -> None:
        """Queue one generation for writing (subject to `enabled` and `sample_rate`); never blocks, never raises."""
        try:
            if not self.cfg.enabled or self._closed:
                return
            if self.cfg.sample_rate < 1.0 and self._rng.random() >= self.cfg.sample_rate:
                return
            with self._cond:
                if len(self._queued) >= self.cfg.queue_size:
                    self.dropped += 1
                    full = True
                else:
                    full = False
                    self._queued[rec.id] = rec
                    if len(self._queued) >= self.cfg.batch_size:
                        self._cond.notify_all()
            if full:
                record_completion_log_dropped("queue_full")
        except Exception:  # noqa: BLE001 - logging a generation must never fail the generation
            log.exception("could not queue completion %s", getattr(rec, "id", "?"))

    # ---- reads ---------------------------------------------------------------------------------------------

    def get(self, completion_id: str) -> CompletionRecord | None:
        """The stored generation, or one still queued in this process; None when unknown (or not sampled)."""
        with self._cond:
            queued = self._queued.get(completion_id) or self._writing.get(completion_id)
        if queued is not None:
            return queued
        with self.db.session() as s:
            row = s.get(Completion, completion_id)
            return _record(row) if row is not None else None

    def list(self, *, adapter: str | None = None, version: str | None = None, caller: str | None = None,
             since: datetime | None = None, until: datetime | None = None, offset: int = 0,
             limit: int = 50) -> tuple[list[CompletionRecord], int]:
        """Stored generations, newest first, and how many match in all. `adapter`: the alias; `version`: a
        version ref ("baurecht@v3") or a version id; `since` inclusive, `until` exclusive. Queued records are
        not listed until written (call flush() first where that matters)."""
        conditions = []
        if adapter is not None:
            conditions.append(Completion.alias == adapter)
        if version is not None:
            conditions.append(or_(Completion.version_ref == version, Completion.version_id == version))
        if caller is not None:
            conditions.append(Completion.caller == caller)
        if since is not None:
            conditions.append(Completion.created_at >= _utc(since))
        if until is not None:
            conditions.append(Completion.created_at < _utc(until))
        with self.db.session() as s:
            total = s.scalar(select(func.count()).select_from(Completion).where(*conditions)) or 0
            rows = s.scalars(select(Completion).where(*conditions)
                             .order_by(Completion.created_at.desc(), Completion.id.desc())
                             .offset(max(0, offset)).limit(max(0, limit)))
            return [_record(r) for r in rows], total

    # ---- writer --------------------------------------------------------------------------------------------

    def flush(self, timeout: float = 10.0) -> None:
        """Block until everything queued before this call is written (and a due retention pass has run)."""
        if self._thread is None or not self._thread.is_alive():
            return
        with self._cond:
            self._flush_requested += 1
            mine = self._flush_requested
            self._cond.notify_all()
            if not self._cond.wait_for(lambda: self._flush_done >= mine, timeout):
                log.warning("completion log flush timed out after %.1fs", timeout)

    def close(self) -> None:
        """Write what is queued, then stop the writer; later records are ignored."""
        if self._closed:
            return
        self.flush()
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10.0)

    def purge_expired(self, now: datetime | None = None) -> int:
        """Delete rows older than `retention_days`; returns how many (the writer calls this at start and hourly)."""
        return purge_completions(self.db, self.cfg.retention_days, now)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closed or self._flush_requested > self._flush_done
                                    or len(self._queued) >= self.cfg.batch_size, self.cfg.flush_interval_seconds)
                covered, closing = self._flush_requested, self._closed
                batch = list(self._queued.values())
                self._writing.update(self._queued)
                self._queued.clear()
            self._retention_if_due()
            for start in range(0, len(batch), self.cfg.batch_size):
                self._write(batch[start:start + self.cfg.batch_size])
            with self._cond:
                self._writing.clear()
                self._flush_done = max(self._flush_done, covered)
                self._cond.notify_all()
                if closing and not self._queued:
                    return

    def _retention_if_due(self) -> None:
        if time.monotonic() < self._next_purge:
            return
        self._next_purge = time.monotonic() + RETENTION_EVERY_SECONDS
        try:
            deleted = self.purge_expired()
            if deleted:
                log.info("completion log retention: deleted %d rows older than %d days", deleted,
                         self.cfg.retention_days)
        except Exception:  # noqa: BLE001 - the writer must survive a failed retention pass
            log.exception("completion log retention failed")

    def _write(self, batch: list[CompletionRecord]) -> None:
        """One transaction per batch; if it fails, row by row so one bad record does not lose its neighbours."""
        if not batch:
            return
        try:
            with self.db.session() as s:
                s.execute(insert(Completion), [_row(r) for r in batch])
            return
        except Exception:  # noqa: BLE001
            log.warning("completion log batch of %d failed; writing row by row", len(batch), exc_info=True)
        failed = 0
        for rec in batch:
            try:
                with self.db.session() as s:
                    s.execute(insert(Completion), [_row(rec)])
            except Exception:  # noqa: BLE001
                failed += 1
                log.exception("completion %s not stored", rec.id)
        if failed:
            record_completion_log_dropped("write_failed", failed)
