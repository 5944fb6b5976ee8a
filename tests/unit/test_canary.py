"""Canary on live ratings without Ray: the sticky share, the decision rules, the loop's canary cycle (routing, ratings
by completion id, promotion, rollback on bad ratings and on the time limit, restart) and the operator endpoint."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from fastapi.testclient import TestClient

from clara_ray.adapters.registry import AdapterRegistry, RegistryConflict
from clara_ray.api.app import build_app
from clara_ray.db.tables import Completion, Feedback
from clara_ray.learning.canary import CanaryLimits, CanaryOutcome, NEUTRAL_BASELINE, judge
from clara_ray.learning.control import InProcessLearning
from clara_ray.learning.loop import LearningLoop
from clara_ray.learning.ratings import VersionRating
from clara_ray.learning.states import CycleReason
from clara_ray.serving.catalog import AdapterCatalog, canary_share
from clara_ray.serving.completion_log import CompletionLog
from clara_ray.serving.engine import GenerationResult
from clara_ray.serving.revisions import AliasRevision, PublishReceipt, install_publisher
from clara_ray.serving.service import Call, ServingService
from tests.unit.test_learning import FakeJobs, fb, make_loop, wait_for

PROMPT = "Frage: Ist mein Carport im Außenbereich zulässig?"


# ---- the sticky share ----------------------------------------------------------------------------------------------
def test_canary_share_is_sticky_and_near_the_fraction():
    callers = [f"key:{i}" for i in range(4000)]
    shares = [canary_share("bau", "cand1", c) for c in callers]
    assert all(0 <= s < 1 for s in shares)
    assert shares == [canary_share("bau", "cand1", c) for c in callers]  # the same caller, the same side
    for fraction in (0.1, 0.5):
        picked = sum(s < fraction for s in shares) / len(callers)
        assert abs(picked - fraction) < 0.03, (fraction, picked)
    # Another canary draws another sample of callers (not always the same unlucky ones).
    other = [canary_share("bau", "cand2", c) < 0.5 for c in callers]
    assert 0.4 < sum(a != (s < 0.5) for a, s in zip(other, shares)) / len(callers) < 0.6


def test_catalog_routes_the_share_and_leaves_exact_versions_alone(db):
    reg = AdapterRegistry(db)
    v1 = reg.register(name="bau", uri="/a/1", base_model="tiny", trainer_type="LORA", rank=8)
    reg.activate(v1.id)
    v2 = reg.register(name="bau", uri="/a/2", base_model="tiny", trainer_type="CONTINUOUS", rank=8)
    view = reg.start_canary(v2.id, 0.3, "test")
    assert (view.canary_version_id, view.canary_fraction, view.canary_version) == (v2.id, 0.3, 2)
    assert view.revision == 2 and reg.get_version(v2.id).status == "canary"
    with pytest.raises(RegistryConflict):
        reg.set_status(v2.id, "rejected")  # the canary is ended through end_canary only
    catalog = AdapterCatalog(reg, "tiny", ttl_seconds=60)
    picks = [catalog.resolve("bau", caller=f"u{i}").ref for i in range(1000)]
    assert abs(picks.count("bau@v2") / 1000 - 0.3) < 0.05
    assert [catalog.resolve("bau", caller=f"u{i}").ref for i in range(1000)] == picks  # cached and sticky
    assert catalog.resolve("bau").ref == "bau@v1"  # nobody to draw: the active version
    assert {catalog.resolve("bau@v1", caller=f"u{i}").ref for i in range(50)} == {"bau@v1"}
    assert {catalog.resolve("bau@v2", caller=f"u{i}").ref for i in range(50)} == {"bau@v2"}
    assert catalog.resolve("tiny:bau", caller="u1").requested == "tiny:bau"
    view = reg.end_canary("bau", promote=False, reason="bad")
    assert view.canary_version_id is None and view.revision == 3 and reg.get_version(v2.id).status == "rejected"
    catalog.invalidate("bau")  # what the revision hub's event does on every replica
    assert {catalog.resolve("bau", caller=f"u{i}").ref for i in range(200)} == {"bau@v1"}
    with pytest.raises(RegistryConflict):
        reg.end_canary("bau", promote=True)


# ---- the decision rules --------------------------------------------------------------------------------------------
LIMITS = CanaryLimits(min_ratings=5, margin=0.1, max_seconds=60)


def rating(n: int, mean: float | None, vid="v") -> VersionRating:
    return VersionRating(version_id=vid, version_ref="bau@v1", status="active", feedback=n, mean_rating=mean,
                         corrections=0)


def test_judge_promotes_rolls_back_waits_and_times_out():
    active = rating(40, 0.8)
    ok = judge(rating(5, 0.72), active, LIMITS, 10)  # 0.72 >= 0.8 - 0.1
    assert ok.outcome == CanaryOutcome.PROMOTE and ok.code.value == "canary_ratings_held"
    assert "0.720 over 5 ratings" in ok.reason and "0.800" in ok.reason
    bad = judge(rating(6, 0.6), active, LIMITS, 10)
    assert bad.outcome == CanaryOutcome.ROLL_BACK and bad.code.value == "canary_ratings_worse" and "worse" in bad.reason
    assert bad.figures["canary_mean"] == 0.6 and bad.figures["active_mean"] == 0.8 and bad.figures["bar"] == 0.8
    assert judge(rating(4, 0.1), active, LIMITS, 10).outcome == CanaryOutcome.WAIT  # too few ratings yet
    late = judge(rating(4, 1.0), active, LIMITS, 61)
    assert late.outcome == CanaryOutcome.ROLL_BACK and late.code.value == "canary_timed_out"
    assert "4 of 5 ratings" in late.reason
    assert judge(None, active, LIMITS, 61).outcome == CanaryOutcome.ROLL_BACK  # never rated at all
    # The active version has no ratings: the bar is the neutral middle of the scale.
    assert judge(rating(5, 0.45), rating(0, None), LIMITS, 1).outcome == CanaryOutcome.PROMOTE
    neutral = judge(rating(5, 0.3), None, LIMITS, 1)
    assert neutral.outcome == CanaryOutcome.ROLL_BACK and neutral.figures["bar"] == NEUTRAL_BASELINE
    assert "no ratings" in neutral.reason and neutral.figures["bar_from"] == "neutral"


def test_the_bar_is_the_active_version_rated_beside_the_canary_once_there_are_enough():
    all_time = rating(40, 0.9)
    # Beside the canary the active version is rated 0.6 (harder questions this week): that is the bar, not 0.9.
    fair = judge(rating(5, 0.6), all_time, LIMITS, 10, beside=rating(5, 0.6))
    assert fair.outcome == CanaryOutcome.PROMOTE and fair.figures["bar"] == 0.6 and fair.figures["bar_from"] == "beside"
    assert "0.600 over 5 ratings given beside it" in fair.reason
    assert (fair.figures["active_ratings_beside"], fair.figures["active_mean_beside"]) == (5, 0.6)
    # Fewer answers beside it than the canary needs itself: the all-time mean stays the bar.
    early = judge(rating(5, 0.6), all_time, LIMITS, 10, beside=rating(4, 0.6))
    assert early.outcome == CanaryOutcome.ROLL_BACK and early.figures["bar"] == 0.9 and early.figures["bar_from"] == "all"
    # And a canary worse than the active version beside it is rolled back whatever the all-time mean says.
    worse = judge(rating(6, 0.5), rating(40, 0.55), LIMITS, 10, beside=rating(8, 0.8))
    assert worse.outcome == CanaryOutcome.ROLL_BACK and worse.figures["bar"] == 0.8


# ---- the loop's canary cycle ---------------------------------------------------------------------------------------
class EchoBackend:
    """Answers every request with the version that served it (what the batched engine would run)."""

    async def generate(self, req, model) -> GenerationResult:
        return GenerationResult(text=f"Antwort von {model.ref}", token_ids=[1, 2], completion_tokens=2,
                                prompt_tokens=3, finish_reason="stop")

    async def stats(self) -> dict:
        return {}


class ReplicaPublisher:
    """Stands in for the revision hub: records each alias event and applies it to one API replica's catalog."""

    def __init__(self):
        self.changes: list[AliasRevision] = []
        self.services: list[ServingService] = []

    def publish_alias(self, change: AliasRevision) -> PublishReceipt:
        self.changes.append(change)
        for svc in self.services:
            svc.catalog.invalidate(change.alias)
        return PublishReceipt(seq=len(self.changes), acked=[f"api-{i}" for i in range(len(self.services))])

    def publish_router(self, change) -> PublishReceipt:
        return PublishReceipt()


@pytest.fixture
def hub():
    pub = ReplicaPublisher()
    install_publisher(pub)
    yield pub
    install_publisher(None)


def canary_settings(settings, **canary):
    cfg = {"min_batch_size": 5, "train_interval_seconds": 0.3, "check_interval_seconds": 0.05, "buffer_size": 50,
           "min_improvement": 0.01, "max_regression": 0.02, "eval_holdout_fraction": 0.0, "min_relevance": None,
           "canary_fraction": 0.5, "canary_min_ratings": 4, "canary_margin": 0.1, "canary_max_seconds": 600}
    return settings.model_copy(update={"learning": settings.learning.model_copy(update={**cfg, **canary})})


def better(uri, records):
    return 10.0 if uri == "/active" else 9.0  # the candidate passes the offline gate


async def canary_cycle(loop: LearningLoop, first: int = 0) -> dict:
    await loop.add([fb(i) for i in range(first, first + 5)])
    await wait_for(lambda: loop.cycles() and loop.cycles()[0]["status"] != "running" and not loop.running)
    return loop.cycles()[0]


@pytest.mark.timeout(60)
async def test_canary_routes_its_share_and_good_ratings_promote(settings, db, hub):
    s = canary_settings(settings)
    reg = AdapterRegistry(db)
    loop = make_loop(s, db, FakeJobs(reg), better)
    await loop.start()
    c = await canary_cycle(loop)
    assert c["status"] == "canary" and c["finished_at"] is None and "canary: serves 50%" in c["reason"]
    cand = reg.get_version(c["candidate_version_id"])
    assert cand.status == "canary" and reg.resolve("bau").uri == "/active"  # the active version still serves
    assert c["canary"]["version"] == f"bau@v{cand.version}" and c["canary"]["fraction"] == 0.5
    assert c["canary"]["canary_ratings"] == 0 and c["canary"]["started_at"]
    assert hub.changes[-1].canary_version_id == cand.id and hub.changes[-1].canary_fraction == 0.5
    assert [e["type"] for e in loop.events.since(0)][-1] == "canary_started"

    log = CompletionLog(db, s.serving.completion_log)
    svc = ServingService(s, db, EchoBackend(), base_model_path="tiny-x", completions=log)
    hub.services.append(svc)
    listed = svc.list_adapters()["canaries"]["bau"]
    assert listed["version"] == f"bau@v{cand.version}" and listed["fraction"] == 0.5
    answered = {}
    for i in range(60):
        out = await svc.generate(PROMPT, "bau", call=Call(completion_id=f"chatcmpl-{i}", route="chat",
                                                          caller=f"user{i}"))
        answered[i] = out["model"]
        again = await svc.generate(PROMPT, "bau", call=Call(completion_id=f"chatcmpl-{i}-2", route="chat",
                                                            caller=f"user{i}"))
        assert again["model"] == out["model"]  # sticky per caller
    on_canary = [i for i, m in answered.items() if m == f"bau@v{cand.version}"]
    assert 15 <= len(on_canary) <= 45, answered
    exact = await svc.generate(PROMPT, "bau@v1", call=Call(completion_id="x", route="chat", caller="user0"))
    assert exact["model"] == "bau@v1"  # an exact version is never rerouted

    # Feedback by completion id names the version that answered (the completion log recorded it).
    client = TestClient(build_app(s, serving=svc, learning=InProcessLearning(loop), completions=log))
    active_answers = [i for i in answered if i not in on_canary]
    for i in on_canary[:4]:
        r = client.post("/api/feedback", json={"completion_id": f"chatcmpl-{i}", "rating": 0.9})
        assert r.status_code == 201, r.text
    for i in active_answers[:4]:
        assert client.post("/api/feedback", json={"completion_id": f"chatcmpl-{i}", "rating": 0.95}).status_code == 201
    await wait_for(lambda: loop.cycle(c["cycle_id"])["status"] == "promoted")  # the ticker decided
    done = loop.cycle(c["cycle_id"])
    assert done["canary"]["canary_ratings"] == 4 and done["canary"]["canary_mean"] == 0.9
    assert done["canary"]["active_mean"] == 0.95 and "not worse" in done["reason"] and done["finished_at"]
    assert done["reason_code"] == "canary_ratings_held"
    assert reg.resolve("bau").id == cand.id and reg.get_version(cand.id).status == "active"
    assert reg.alias("bau").canary_version_id is None and hub.changes[-1].canary_version_id is None
    assert {(await svc.generate(PROMPT, "bau", call=Call(completion_id=f"p{i}", route="chat", caller=f"user{i}"))
             )["model"] for i in range(20)} == {f"bau@v{cand.version}"}
    assert "bau" not in svc.list_adapters()["canaries"]
    finished = [e["data"] for e in loop.events.since(0) if e["type"] == "cycle_finished"]
    assert finished[-1]["cycle_id"] == c["cycle_id"] and finished[-1]["status"] == "promoted"
    client.close()
    log.close()
    await loop.close()


@pytest.mark.timeout(60)
async def test_bad_ratings_roll_back_and_no_cycle_starts_meanwhile(settings, db, hub):
    s = canary_settings(settings)
    reg = AdapterRegistry(db)
    loop = make_loop(s, db, FakeJobs(reg), better)
    await loop.start()
    c = await canary_cycle(loop)
    cand = reg.get_version(c["candidate_version_id"])
    await loop.add([fb(i) for i in range(100, 105)])  # a full batch while the canary runs: it waits
    assert not loop.running and loop.coalesced.get("bau") == "size" and len(loop.cycles()) == 1
    log = CompletionLog(db, s.serving.completion_log)
    svc = ServingService(s, db, EchoBackend(), base_model_path="tiny-x", completions=log)
    client = TestClient(build_app(s, serving=svc, learning=InProcessLearning(loop), completions=log))
    rated = 0
    for i in range(200):
        out = await svc.generate(PROMPT, "bau", call=Call(completion_id=f"chatcmpl-{i}", route="chat",
                                                          caller=f"user{i}"))
        value = 0.2 if out["model"] == f"bau@v{cand.version}" else 0.9
        assert client.post("/api/feedback", json={"completion_id": f"chatcmpl-{i}", "rating": value}).status_code == 201
        rated += out["model"] != "bau@v1"
        if rated == 4:
            break
    await wait_for(lambda: loop.cycle(c["cycle_id"])["status"] == "rolled_back")
    done = loop.cycle(c["cycle_id"])
    assert done["failed_criteria"][-1]["code"] == "canary_ratings_worse" and "0.200 over 4 ratings" in done["reason"]
    assert reg.get_version(cand.id).status == "rejected" and "learning cycle" in reg.get_version(cand.id).status_reason
    assert reg.resolve("bau").uri == "/active" and reg.alias("bau").canary_version_id != cand.id
    # The batch that waited for the decision trains now.
    await wait_for(lambda: len(loop.cycles()) == 2 and loop.cycles()[0]["status"] != "running" and not loop.running)
    assert loop.cycles()[0]["samples"] >= 5  # the waiting batch (and a well-rated answer, queued too)
    client.close()
    log.close()
    await loop.close()


def rated_before(db, version_id: str, n: int, value: float, when: datetime) -> None:
    """Feedback on `n` answers of the active version, given before the canary started (its all-time record)."""
    with db.session() as s:
        for i in range(n):
            s.add(Completion(id=f"old-{i}", route="chat", model="bau", version_id=version_id, version_ref="bau@v1",
                             alias="bau", prompt=PROMPT, output="alt", created_at=when))
            s.add(Feedback(alias="bau", prompt=PROMPT, response="alt", rating=value, content_hash=f"old-{i}",
                           completion_id=f"old-{i}", version_id=version_id, created_at=when))


@pytest.mark.timeout(60)
async def test_the_canary_is_measured_against_the_active_version_rated_beside_it(settings, db, hub):
    """The active version was rated 0.95 last month; beside the canary both sides are rated 0.6. The canary holds
    the active's level of today and is promoted (the all-time mean, 0.89, would have rolled it back)."""
    s = canary_settings(settings)
    reg = AdapterRegistry(db)
    loop = make_loop(s, db, FakeJobs(reg), better)
    rated_before(db, reg.resolve("bau").id, 20, 0.95, datetime(2026, 1, 1, tzinfo=timezone.utc))
    await loop.start()
    c = await canary_cycle(loop)
    cand = reg.get_version(c["candidate_version_id"])
    log = CompletionLog(db, s.serving.completion_log)
    svc = ServingService(s, db, EchoBackend(), base_model_path="tiny-x", completions=log)
    client = TestClient(build_app(s, serving=svc, learning=InProcessLearning(loop), completions=log))
    answered = {}
    for i in range(80):
        answered[f"chatcmpl-{i}"] = (await svc.generate(PROMPT, "bau", call=Call(
            completion_id=f"chatcmpl-{i}", route="chat", caller=f"user{i}")))["model"]
    active = [k for k, m in answered.items() if m == "bau@v1"][:4]
    canary = [k for k, m in answered.items() if m == f"bau@v{cand.version}"][:4]
    for cid in active + canary:  # the active side first: the ticker may decide as soon as the canary has 4
        assert client.post("/api/feedback", json={"completion_id": cid, "rating": 0.6}).status_code == 201
    view = svc.list_adapters()["canaries"]["bau"]["active"]
    assert (view["ratings"], view["beside_canary"]) == (24, {"ratings": 4, "mean_rating": 0.6})
    await wait_for(lambda: loop.cycle(c["cycle_id"])["status"] != "canary")
    done = loop.cycle(c["cycle_id"])
    assert done["status"] == "promoted" and done["reason_code"] == "canary_ratings_held", done["reason"]
    assert done["canary"]["bar_from"] == "beside" and done["canary"]["bar"] == 0.6
    assert done["canary"]["active_ratings"] == 24 and done["canary"]["active_mean"] > 0.85
    assert "given beside it" in done["reason"]
    client.close()
    log.close()
    await loop.close()


@pytest.mark.timeout(60)
async def test_time_limit_rolls_back_and_a_restart_resumes(settings, db, hub):
    s = canary_settings(settings, canary_max_seconds=3600)
    reg = AdapterRegistry(db)
    loop = make_loop(s, db, FakeJobs(reg), better)
    await loop.start()
    c = await canary_cycle(loop)
    await loop.close()  # the learning buffer goes away with the canary open

    restarted = make_loop(s, db, FakeJobs(reg), better)
    clock = [datetime.now(timezone.utc).timestamp()]
    restarted.canary.clock = lambda: clock[0]
    await restarted.start()  # a canary cycle is not "interrupted": it stays open
    assert restarted.cycle(c["cycle_id"])["status"] == "canary"
    assert await restarted.check_canaries() == []  # no ratings, within the time limit: it waits
    clock[0] += 3601
    [done] = await restarted.check_canaries()
    assert done["status"] == "rolled_back" and done["failed_criteria"][-1]["code"] == "canary_timed_out"
    assert done["reason_code"] == "canary_timed_out"
    assert "0 of 4 ratings" in done["reason"]
    assert reg.get_version(c["candidate_version_id"]).status == "rejected"
    await restarted.close()


@pytest.mark.timeout(60)
async def test_operator_ends_a_canary_through_the_api(settings, db, hub):
    s = canary_settings(settings)
    reg = AdapterRegistry(db)
    loop = make_loop(s, db, FakeJobs(reg), better)
    await loop.start()
    client = TestClient(build_app(s, learning=InProcessLearning(loop)))
    assert client.post("/api/learning/canary", json={"adapter": "bau", "action": "promote"}).status_code == 404
    r = client.post("/api/learning/canary", json={"adapter": "bau", "action": "maybe"})
    assert r.status_code == 422 and "action" in r.text
    c = await canary_cycle(loop)
    listed = client.get("/api/learning/cycles", params={"adapter": "bau"}).json()["items"][0]
    assert listed["status"] == "canary" and listed["canary"]["fraction"] == 0.5
    r = client.post("/api/learning/canary", json={"adapter": "bau", "action": "promote"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "promoted" and "promoted early by" in r.json()["reason"]
    assert r.json()["reason_code"] == "operator"
    assert reg.resolve("bau").id == c["candidate_version_id"]
    assert client.post("/api/learning/canary", json={"adapter": "bau", "action": "rollback"}).status_code == 404
    client.close()
    await loop.close()


@pytest.mark.timeout(60)
async def test_zero_fraction_keeps_direct_promotion(settings, db, hub):
    reg = AdapterRegistry(db)
    loop = make_loop(canary_settings(settings, canary_fraction=0.0), db, FakeJobs(reg), better)
    await loop.start()
    c = await canary_cycle(loop)
    assert c["status"] == "promoted" and reg.resolve("bau").id == c["candidate_version_id"]
    assert all(ch.canary_version_id is None for ch in hub.changes)
    await loop.close()


@pytest.mark.timeout(60)
async def test_openai_user_draws_the_share_and_the_answer_names_the_version(settings, db, hub):
    """One API key (here security off: one caller), many end users: the share is drawn per `user`; the header,
    system_fingerprint and completion log name the version that answered, so ratings by id land on it."""
    s = canary_settings(settings)
    reg = AdapterRegistry(db)
    loop = make_loop(s, db, FakeJobs(reg), better)
    await loop.start()
    c = await canary_cycle(loop)
    canary_ref = f"bau@v{reg.get_version(c['candidate_version_id']).version}"
    log = CompletionLog(db, s.serving.completion_log)
    svc = ServingService(s, db, EchoBackend(), base_model_path="tiny-x", completions=log)
    client = TestClient(build_app(s, serving=svc, learning=InProcessLearning(loop), completions=log))
    seen = {}
    for u in range(40):
        for _ in range(2):
            r = client.post("/v1/completions", json={"model": "bau", "prompt": PROMPT, "user": f"u{u}"})
            assert r.status_code == 200, r.text
            body, version = r.json(), r.headers["x-clara-model-version"]
            assert body["system_fingerprint"] == version and seen.setdefault(u, version) == version  # sticky
            assert log.get(body["id"]).version_ref == version
    assert set(seen.values()) == {"bau@v1", canary_ref}
    assert 10 <= sum(v == canary_ref for v in seen.values()) <= 30
    client.close()
    log.close()
    await loop.close()


@pytest.mark.timeout(60)
async def test_a_canary_whose_cycle_failed_is_rolled_back(settings, db, hub):
    s = canary_settings(settings)
    reg = AdapterRegistry(db)
    loop = make_loop(s, db, FakeJobs(reg), better)
    c = await canary_cycle(loop)  # (not started: no ticker decides meanwhile)
    assert loop.runner.fail(c["cycle_id"], CycleReason.ERROR, "an error after the canary started")["status"] == "failed"
    assert reg.alias("bau").canary_version_id == c["candidate_version_id"]
    assert await loop.check_canaries() == []  # no cycle was decided, but the orphaned canary ends
    assert reg.alias("bau").canary_version_id is None and reg.get_version(c["candidate_version_id"]).status == "rejected"
    assert hub.changes[-1].canary_version_id is None
    await loop.close()
