"""Completion log without Ray: batching, sampling, shedding on a full queue, retention, queued reads, filters."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from clara_ray.serving.settings import CompletionLogSettings, ServingSettings
from clara_ray.observability import metrics
from clara_ray.serving.completion_log import CompletionLog, CompletionRecord

NOW = datetime.now(timezone.utc)
SLOW = 3600.0  # flush interval that never elapses in a test: only batch_size or flush() wake the writer


def rec(i: int, *, ref: str | None = "bau@v2", vid: str | None = "v2id", caller: str = "alice",
        at: datetime | None = None, **kw) -> CompletionRecord:
    fields = dict(id=f"chatcmpl-{i}", route="chat", model=(ref or "").split("@")[0], version_id=vid, version_ref=ref,
                  prompt=f"### User: Frage {i}\n### Assistant:", messages=[{"role": "user", "content": f"Frage {i}"}],
                  output=f"Antwort {i}", finish_reason="stop", prompt_tokens=7, completion_tokens=3, latency_ms=12.5,
                  caller=caller, created_at=at or NOW)
    return CompletionRecord(**{**fields, **kw})


@pytest.fixture
def make_log(db):
    logs: list[CompletionLog] = []

    def make(**cfg) -> CompletionLog:
        log = CompletionLog(db, CompletionLogSettings(**{"flush_interval_seconds": SLOW, **cfg}),
                            rng=random.Random(7))
        logs.append(log)
        return log

    yield make
    for log in logs:
        log.close()


class FakeCounter:
    def __init__(self):
        self.calls: list[tuple[float, dict]] = []

    def inc(self, value, tags=None):
        self.calls.append((value, tags))


@pytest.fixture
def dropped_counter(monkeypatch):
    """The real metrics path (metrics._record) with Ray 'running' and the counter replaced by a recorder."""
    counter = FakeCounter()
    monkeypatch.setattr(metrics, "_ray_ready", lambda: True)
    monkeypatch.setitem(metrics._metrics, "completion_log_dropped", counter)
    return counter


def test_config_defaults_and_bounds():
    cfg = ServingSettings().completion_log
    assert (cfg.enabled, cfg.sample_rate, cfg.retention_days, cfg.queue_size, cfg.batch_size,
            cfg.flush_interval_seconds) == (True, 1.0, 30, 10000, 200, 0.5)
    with pytest.raises(ValueError, match="sample_rate"):
        CompletionLogSettings(sample_rate=1.5)


def test_batches_and_queued_records_are_readable(make_log, monkeypatch):
    log = make_log(batch_size=3)
    batches: list[int] = []
    real_write = CompletionLog._write
    monkeypatch.setattr(CompletionLog, "_write", lambda self, b: (batches.append(len(b)), real_write(self, b)))
    log.record(rec(1))
    log.record(rec(2))  # below batch_size and the interval never elapses: still queued
    assert log.list()[1] == 0
    queued = log.get("chatcmpl-2")
    assert queued is not None and queued.output == "Antwort 2" and queued.alias == "bau"
    for i in range(3, 8):
        log.record(rec(i))
    log.flush()
    items, total = log.list(limit=500)
    assert total == 7 and {r.id for r in items} == {f"chatcmpl-{i}" for i in range(1, 8)}
    assert sum(batches) == 7 and max(batches) <= 3  # written in batches of at most batch_size
    stored = log.get("chatcmpl-1")
    assert stored == rec(1)  # round trip through the table: every field, tz-aware created_at
    assert stored.created_at.tzinfo is not None
    assert log.get("chatcmpl-nope") is None


def test_sampling_is_per_record(make_log):
    log = make_log(sample_rate=0.3)
    for i in range(1000):
        log.record(rec(i))
    log.flush()
    assert 230 <= log.list()[1] <= 370
    none = make_log(sample_rate=0.0)
    none.record(rec(5000))
    none.flush()
    assert none.get("chatcmpl-5000") is None


def test_disabled_log_stores_nothing(make_log):
    log = make_log(enabled=False)
    log.record(rec(1))
    log.flush()
    assert log.get("chatcmpl-1") is None and log.list()[1] == 0


def test_full_queue_sheds_and_counts(make_log, dropped_counter):
    log = make_log(queue_size=5, batch_size=100)
    for i in range(8):
        log.record(rec(i))  # never raises, never blocks
    assert log.dropped == 3
    assert dropped_counter.calls == [(1, {"reason": "queue_full"})] * 3
    log.flush()
    assert log.list()[1] == 5
    assert log.get("chatcmpl-7") is None  # the shed ones are gone


def test_a_bad_record_loses_only_itself(make_log, dropped_counter):
    log = make_log(batch_size=10)
    log.record(rec(1))
    log.record(rec(2, messages=[{"role": "user", "content": object()}]))  # not JSON: its insert fails
    log.record(rec(3))
    log.flush()
    assert {r.id for r in log.list()[0]} == {"chatcmpl-1", "chatcmpl-3"}
    assert dropped_counter.calls == [(1, {"reason": "write_failed"})]


def test_retention_deletes_old_rows(make_log):
    log = make_log(retention_days=30)
    log.record(rec(1, at=NOW - timedelta(days=40)))
    log.record(rec(2, at=NOW - timedelta(days=1)))
    log.flush()  # the start-up retention pass ran before these were written
    assert log.list()[1] == 2
    assert log.purge_expired() == 1
    assert [r.id for r in log.list()[0]] == ["chatcmpl-2"]
    log.record(rec(3, at=NOW - timedelta(days=31)))
    log.flush()
    log.close()
    fresh = make_log(retention_days=30)  # a new writer purges at its first pass
    fresh.flush()
    assert [r.id for r in fresh.list()[0]] == ["chatcmpl-2"]


def test_filters_and_paging(make_log):
    log = make_log()
    log.record(rec(1, ref="bau@v1", vid="v1id", caller="alice", at=NOW - timedelta(hours=3)))
    log.record(rec(2, ref="bau@v2", vid="v2id", caller="bob", at=NOW - timedelta(hours=2)))
    log.record(rec(3, ref="steuer@v1", vid="s1id", caller="alice", at=NOW - timedelta(hours=1)))
    log.record(rec(4, ref=None, vid=None, caller="alice", at=NOW, route="completion", messages=None))
    log.flush()

    def ids(**kw) -> list[str]:
        return [r.id.removeprefix("chatcmpl-") for r in log.list(**kw)[0]]

    assert ids() == ["4", "3", "2", "1"]  # newest first
    assert ids(adapter="bau") == ["2", "1"]
    assert ids(version="bau@v2") == ["2"] and ids(version="v1id") == ["1"]
    assert ids(caller="alice") == ["4", "3", "1"]
    assert ids(since=NOW - timedelta(hours=2), until=NOW) == ["3", "2"]  # since inclusive, until exclusive
    naive = (NOW - timedelta(hours=1, minutes=30)).replace(tzinfo=None)  # naive = UTC
    assert ids(since=naive) == ["4", "3"]
    assert ids(since=(NOW - timedelta(hours=1, minutes=30)).astimezone(timezone(timedelta(hours=2)))) == ["4", "3"]
    items, total = log.list(caller="alice", offset=1, limit=1)
    assert total == 3 and [r.id for r in items] == ["chatcmpl-3"]
    base = log.get("chatcmpl-4")
    assert base.version_id is None and base.alias is None and base.messages is None


def test_records_after_close_are_ignored(make_log):
    log = make_log()
    log.record(rec(1))
    log.close()  # writes what is queued
    log.record(rec(2))
    assert log.get("chatcmpl-1") is not None and log.get("chatcmpl-2") is None


def test_migration_matches_the_tables(db):
    """Migration 0004 creates exactly what tables.py declares for `completions` and the new feedback columns."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from clara_ray.db.tables import Base

    with db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)

    def mine(d) -> bool:
        text = repr(d)
        return "completions" in text or "'feedback'" in text or "completion_id" in text or "version_id" in text

    assert [d for d in diffs if mine(d)] == []
