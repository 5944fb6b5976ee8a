"""Feedback accounting: every acknowledged sample is trained on or reported dropped; retries answer as stored; full = 503."""

from __future__ import annotations

import asyncio

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from clara_ray.adapters.registry import AdapterRegistry
from clara_ray.api.app import build_app
from clara_ray.db.tables import Feedback
from clara_ray.learning.buffer import DROPPED, RATING_ONLY, LearningBuffer
from clara_ray.learning.feedback import FeedbackSample, FeedbackStatus
from clara_ray.learning.loop import LearningLoop
from clara_ray.observability import metrics
from clara_ray.learning.control import InProcessLearning
from tests.unit.test_learning import FakeJobs, fb, make_loop, wait_for


class FakeMetric:
    def __init__(self):
        self.calls: list[tuple[float, dict]] = []

    def inc(self, value, tags=None):
        self.calls.append((value, tags or {}))

    set = observe = inc

    def total(self, **tags) -> float:
        return sum(v for v, t in self.calls if all(t.get(k) == w for k, w in tags.items()))


@pytest.fixture
def feedback_counter(monkeypatch):
    """The real metrics path with Ray 'running' and the metrics replaced by recorders."""
    monkeypatch.setattr(metrics, "_ray_ready", lambda: True)
    for key in ("buffer", "cycles"):
        monkeypatch.setitem(metrics._metrics, key, FakeMetric())
    counter = FakeMetric()
    monkeypatch.setitem(metrics._metrics, "feedback", counter)
    return counter


def with_learning(settings, **learning):
    """Every accepted sample trainable (no evaluation holdout, no relevance screen: their own tests cover them)."""
    return settings.model_copy(update={"learning": settings.learning.model_copy(update={
        "train_interval_seconds": 0.3, "check_interval_seconds": 0.05, "eval_holdout_fraction": 0.0,
        "min_relevance": None, **learning})})


def claimed_ids(db) -> dict[str, str]:
    """Feedback id -> the cycle that claimed it (not pending, dropped or rating-only)."""
    with db.session() as s:
        return {i: c for i, c in s.execute(select(Feedback.id, Feedback.cycle_id).where(
            Feedback.cycle_id.is_not(None), Feedback.cycle_id.not_in([DROPPED, RATING_ONLY])))}


def dropped_ids(db) -> set[str]:
    with db.session() as s:
        return set(s.scalars(select(Feedback.id).where(Feedback.cycle_id == DROPPED)))


@pytest.mark.timeout(120)
async def test_flood_past_the_bound_waits_and_every_acknowledged_sample_is_trained(settings, db, feedback_counter):
    """overflow "wait": a flood beyond buffer_size is refused (retryable), never dropped; the backlog grows the next
    cycles' batches up to max_batch_size, and every sample ever acknowledged ends up claimed by a finished cycle."""
    cfg = with_learning(settings, buffer_size=30, min_batch_size=10, max_batch_size=25)
    reg = AdapterRegistry(db)
    loop = make_loop(cfg, db, FakeJobs(reg, delay=0.2), lambda uri, recs: 10.0 if uri == "/active" else 9.0)
    await loop.start()
    acknowledged: set[str] = set()
    to_send = [fb(i) for i in range(150)]
    refused_once = 0
    deadline = asyncio.get_running_loop().time() + 90
    while to_send:  # a client that honours "retryable": sends again what the full buffer refused
        assert asyncio.get_running_loop().time() < deadline, f"{len(to_send)} samples never accepted"
        batch, to_send = to_send[:20], to_send[20:]
        results = await loop.add(batch, caller="flooder")
        acknowledged |= {r.id for r in results if r.status == FeedbackStatus.QUEUED}
        retry = [item for item, r in zip(batch, results) if r.retryable]
        assert all(r.status == FeedbackStatus.QUEUED or r.retryable for r in results), results
        refused_once += len(retry)
        to_send = retry + to_send
        if retry:
            await wait_for(lambda: not loop.buffer.stats()["full"], timeout=30)  # Retry-After, by state
    assert refused_once > 0 and loop.buffer.counts["refused_full"] == refused_once  # the bound was really hit
    await wait_for(lambda: loop.buffer.stats()["pending_total"] == 0 and not loop.running, timeout=60)

    claimed = claimed_ids(db)
    assert len(acknowledged) == 150 and acknowledged == set(claimed)  # all acknowledged, all trained on
    assert dropped_ids(db) == set() and loop.buffer.stats()["dropped_total"] == 0
    sizes = [c["samples"] for c in loop.cycles()]
    assert max(sizes) == 25 and all(s <= 25 for s in sizes)  # the backlog grew a batch up to max_batch_size
    assert all(c["status"] in ("promoted", "rejected") for c in loop.cycles())  # every claiming cycle finished
    assert feedback_counter.total(outcome="queued") == 150
    assert feedback_counter.total(outcome="refused_full") == refused_once
    assert feedback_counter.total(outcome="dropped") == 0
    await loop.close()


@pytest.mark.timeout(60)
async def test_drop_lowest_reports_every_drop_and_the_rest_is_trained(settings, db, feedback_counter):
    """overflow "drop_lowest": everything is queued, the lowest-priority samples beyond buffer_size are dropped;
    each acknowledged sample is either claimed by a later cycle or dropped, and every drop is counted and shown."""
    cfg = with_learning(settings, buffer_size=20, min_batch_size=1000, max_batch_size=15, overflow="drop_lowest",
                        train_interval_seconds=3600)
    reg = AdapterRegistry(db)
    loop = make_loop(cfg, db, FakeJobs(reg), lambda uri, recs: 10.0 if uri == "/active" else 9.0)
    await loop.start()
    results = await loop.add([fb(i, importance=1.0 + (i % 5)) for i in range(50)], caller="flooder")
    assert all(r.status == FeedbackStatus.QUEUED for r in results)
    acknowledged = {r.id for r in results}
    stats = loop.stats()
    assert (stats["pending_total"], stats["dropped_total"], stats["overflow"]) == (20, 30, "drop_lowest")
    assert feedback_counter.total(outcome="dropped") == 30
    dropped = dropped_ids(db)
    with db.session() as s:
        importance = dict(s.execute(select(Feedback.id, Feedback.importance)).tuples().all())
    assert max(importance[i] for i in dropped) <= min(importance[i] for i in acknowledged - dropped)

    while loop.buffer.pending.get("bau"):  # later cycles take the rest, max_batch_size at a time
        await loop.trigger("bau")
        await wait_for(lambda: not loop.running, timeout=20)
    claimed = set(claimed_ids(db))
    assert claimed | dropped == acknowledged and not claimed & dropped
    assert [c["samples"] for c in sorted(loop.cycles(), key=lambda c: c["started_at"])] == [15, 5]
    await loop.close()


def sample(i: int, **kw) -> FeedbackSample:
    return FeedbackSample(**{**fb(i).model_dump(exclude={"completion_id"}), **kw})


def test_retries_are_answered_as_stored(settings, db):
    buf = LearningBuffer(with_learning(settings), db)
    first = buf.add([sample(1), sample(2, prompt="Was?", response="kurz")], caller="alice", item_keys=["k#0", "k#1"])
    assert [r.status for r in first] == [FeedbackStatus.QUEUED, FeedbackStatus.REJECTED]
    again = buf.add([sample(1), sample(2, prompt="Was?", response="kurz")], caller="alice", item_keys=["k#0", "k#1"])
    assert again[0].replayed and again[0].id == first[0].id and again[0].status == FeedbackStatus.QUEUED
    assert again[1].status == FeedbackStatus.REJECTED and not again[1].replayed  # never stored: judged again
    no_key = buf.add([sample(1)], caller="alice")[0]  # the identical sample, retried without a key
    assert no_key.replayed and no_key.id == first[0].id
    other = buf.add([sample(1)], caller="bob")[0]  # someone else's identical sample is a duplicate
    assert other.status == FeedbackStatus.REJECTED and "duplicate" in other.reason
    changed = buf.add([sample(1, rating=0.9)], caller="alice")[0]  # not a retry: a second opinion
    assert changed.status == FeedbackStatus.REJECTED and not changed.replayed
    with db.session() as s:
        assert len(list(s.scalars(select(Feedback)))) == 1  # stored once whatever the retries


def test_api_idempotency_key_status_and_full_buffer(settings, db):
    cfg = with_learning(settings, buffer_size=3, min_batch_size=1000, train_interval_seconds=3600)
    reg = AdapterRegistry(db)
    reg.activate(reg.register(name="bau", uri="/active", base_model="tiny-x", trainer_type="LORA", rank=8).id)
    loop = LearningLoop(cfg, db, jobs=None, evaluate=None)
    client = TestClient(build_app(cfg, learning=InProcessLearning(loop)), raise_server_exceptions=False)
    body = fb(1).model_dump(exclude_none=True)

    r1 = client.post("/api/feedback", json=body, headers={"Idempotency-Key": "req-1"})
    assert r1.status_code == 201 and r1.json()["status"] == "queued" and r1.json()["accepted"]
    r2 = client.post("/api/feedback", json=body, headers={"Idempotency-Key": "req-1"})
    assert r2.status_code == 201 and r2.json()["replayed"] and r2.json()["id"] == r1.json()["id"]
    assert client.post("/api/feedback", json=body, headers={"Idempotency-Key": "bad key\n"}).status_code == 422

    items = [fb(i).model_dump(exclude_none=True) for i in (2, 3, 4)]
    b1 = client.post("/api/feedback/batch", json={"items": items}, headers={"Idempotency-Key": "batch-1"}).json()
    assert [x["status"] for x in b1["results"]] == ["queued", "queued", "rejected"]
    assert b1["results"][2]["retryable"] and "buffer full" in b1["results"][2]["reason"]
    b2 = client.post("/api/feedback/batch", json={"items": items}, headers={"Idempotency-Key": "batch-1"}).json()
    assert [x["id"] for x in b2["results"][:2]] == [x["id"] for x in b1["results"][:2]]
    assert all(x["replayed"] for x in b2["results"][:2])

    full = client.post("/api/feedback", json=fb(5).model_dump(exclude_none=True))
    assert full.status_code == 503 and full.headers["Retry-After"] == str(cfg.learning.full_retry_after_seconds)
    assert "buffer full" in full.json()["detail"]
    stats = client.get("/api/learning/buffer").json()
    assert stats["full"] and stats["pending_total"] == 3 and stats["since_start"]["refused_full"] == 3  # b1, its retry b2, fb(5)
