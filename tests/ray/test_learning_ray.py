"""The closed loop on a real cluster, on the shipped recipe and gate: good feedback promotes, poison is refused or
rejected, evaluation records never train, time trigger, buffer survives kills."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone

import httpx
import pytest

from clara_ray.resources import load_jsonl, offdomain_path, qa_path
from tests.ray.test_training_api import wait_status
from tests.waiting import poll

pytestmark = [pytest.mark.ray]
PROMPT = "Brauche ich für einen Carport im Außenbereich eine Baugenehmigung?"


def records():
    return [r for r in load_jsonl(qa_path()) if r["domain"] == "baurecht"]


@pytest.fixture(scope="module")
def loop_alias(client, tmp_path_factory):
    """A 'loop' adapter trained on 170 Baurecht records for one epoch; the other 80 are future feedback. (After three
    epochs the adapter is so close to converged that 40 more samples of its own distribution improve validation
    perplexity by only 0.6-1.5 %, around the shipped min_improvement of 1 %: the test would test the edge.)"""
    data = tmp_path_factory.mktemp("loop") / "initial.jsonl"
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records()[:170]) + "\n", encoding="utf-8")
    r = client.post("/api/training/jobs", json={"name": "loop", "data_paths": [str(data)], "epochs": 1,
                                                "learning_rate": 3e-3, "domain": "baurecht", "activate": "always",
                                                "description": "Baurecht: BauGB, Baugenehmigung, Bebauungsplan"})
    v = wait_status(client, r.json()["job_id"], {"COMPLETED", "FAILED"})
    assert v["status"] == "COMPLETED", v["error"]
    return "loop"


def feedback(alias, rows, **extra):
    return [{"prompt": r["prompt"], "response": r["response"], "correction": r["response"], "rating": 1.0,
             "importance": 1.0, "adapter": alias, "source": "test", **extra} for r in rows]


def queued(res: dict) -> int:
    """Samples of a feedback batch answer that wait for training (not held out for evaluation, not refused)."""
    return sum(r["status"] == "queued" for r in res["results"])


def is_noise(prompt: str) -> bool:
    """English marketing spam or random characters among the bundled off-domain samples (not repeated-token spam,
    which the repetition check refuses first)."""
    words = prompt.split()
    odd = sum(not (ch.isalnum() or ch.isspace()) for ch in prompt) / len(prompt)
    return prompt.startswith(("What is the best", "Tell me", "Any special", "Why should", "How can I")) or (
        odd > 0.15 and len(set(words)) == len(words))


def cycle_ids(client, alias) -> set[str]:
    return {c["cycle_id"] for c in client.get("/api/learning/cycles", params={"adapter": alias}).json()["items"]}


def wait_new_cycle(client, alias, known: set[str], min_samples=1, timeout=300):
    """The first finished cycle not in `known` with at least `min_samples` samples."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        items = client.get("/api/learning/cycles", params={"adapter": alias}).json()["items"]
        done = [c for c in items if c["cycle_id"] not in known and c["status"] != "running"
                and c["samples"] >= min_samples]
        if done:
            return done[-1]
        time.sleep(1)
    raise AssertionError(f"{alias}: no new finished cycle after {timeout}s: {items}")


def served(client, alias):
    # The tiny model's chat format (clara_ray.training.base_model.CHAT_TEMPLATE), so the adapter answers.
    chat = f"<|begin_of_text|><|user|>{PROMPT}<|end_of_text|><|assistant|>"
    out = client.post("/api/serving/generate", json={"prompt": chat, "adapter": alias, "max_tokens": 24}).json()
    assert out["text"], out
    return out


def active_ref(client, alias) -> str:
    """The version the registry's alias points at (what serving must converge to)."""
    return client.get("/api/serving/adapters/list").json()["aliases"][alias]


def served_as(client, alias, ref: str, timeout=30.0) -> dict:
    """Poll until requests for `alias` are answered by `ref` (replicas cache aliases for alias_ttl_seconds)."""
    deadline = time.time() + timeout
    while True:
        out = served(client, alias)
        if out["model"] == ref:
            return out
        assert time.time() < deadline, f"{alias} still served by {out['model']}, not {ref}, after {timeout}s"
        time.sleep(0.2)


def utc(iso: str) -> datetime:
    """A stored timestamp as aware UTC (SQLite hands back naive UTC, PostgreSQL aware)."""
    t = datetime.fromisoformat(iso)
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


@pytest.mark.timeout(900)
def test_good_feedback_promotes_then_poison_is_rejected(client, api_url, loop_alias, ray_settings):
    before = served(client, loop_alias)
    assert before["model"] == "loop@v1"
    known = cycle_ids(client, loop_alias)
    good = client.post("/api/feedback/batch", json={"items": feedback(loop_alias, records()[170:210])})
    assert good.status_code == 201, good.text
    res = good.json()
    # One of these prompts is in the regression set: evaluation data never enters training. The rest is accepted;
    # a fixed share of it is held out as the alias's evaluation set.
    refused = [r for r in res["results"] if r["status"] == "rejected"]
    assert len(refused) == 1 and "evaluation record" in refused[0]["reason"], refused
    assert res["accepted"] == 39 and any(r["status"] == "held_out" for r in res["results"])
    n_good = queued(res)
    assert n_good >= 20  # the size trigger fires
    # Feedback arriving once the cycle has claimed its batch is kept for the next one.
    poll(lambda: cycle_ids(client, loop_alias) - known, "the size trigger started no cycle")
    late = client.post("/api/feedback/batch", json={"items": feedback(loop_alias, records()[210:215])}).json()
    assert late["accepted"] == 5 and queued(late) >= 1, late
    c = wait_new_cycle(client, loop_alias, known, min_samples=n_good)
    assert c["status"] == "promoted", c["reason"]  # on the shipped defaults: recipe, gate, forgetting budget
    assert c["samples"] == n_good and c["job_id"] and c["metrics_after"]["val_ppl"] < c["metrics_before"]["val_ppl"]
    assert c["metrics_before"]["held_out_records"] >= 1 and c["failed_criteria"] == []
    assert c["metrics_after"]["kl"] <= ray_settings.learning.max_kl
    assert set(c["durations"]) >= {"prepare", "train", "evaluate", "promote"}
    versions = client.get("/api/serving/adapters/list").json()["versions"]
    v1, v2 = (next(v for v in versions if v["ref"] == f"loop@v{i}") for i in (1, 2))
    assert (v2.get("domain"), v2.get("description")) == (v1.get("domain"), v1.get("description"))
    assert active_ref(client, loop_alias) == "loop@v2"
    v2_id = next(v["id"] for v in client.get("/api/serving/adapters/list").json()["versions"] if v["ref"] == "loop@v2")
    served_as(client, loop_alias, "loop@v2")
    # The replica ran v2's own weights (versions are immutable, loaded by id). A small continuous step on 40
    # samples need not change a greedy answer, so the text is not the evidence.
    replica = client.get("/api/serving/router/status").json()["replicas"]
    assert v2_id in replica["loaded_adapters"] and replica["requests_served"].get(v2_id, 0) >= 1, replica
    # The 5 late samples were not in that cycle: they wait, then the time trigger trains them.
    late_cycle = wait_new_cycle(client, loop_alias, known | {c["cycle_id"]}, timeout=200)
    assert late_cycle["samples"] == queued(late) and late_cycle["trigger"] == "time"  # < min_batch_size
    after = served_as(client, loop_alias, active_ref(client, loop_alias))  # v2, or v3 if those 5 passed the gate

    poison = [{"prompt": r["prompt"], "response": r["response"], "rating": 1.0, "importance": 5.0,
               "adapter": loop_alias} for r in load_jsonl(offdomain_path())]
    known = cycle_ids(client, loop_alias)
    res = client.post("/api/feedback/batch", json={"items": poison}).json()
    reasons = [r["reason"] or "" for r in res["results"] if r["status"] == "rejected"]
    # Random letters and English marketing text are refused as off-domain before training, with their figure.
    noise = [i for i, p in enumerate(poison) if is_noise(p["prompt"])]
    assert len(noise) >= 20
    assert all(res["results"][i]["status"] == "rejected" for i in noise), [res["results"][i] for i in noise]
    assert sum("off-domain: relevance" in r for r in reasons) >= len(noise), reasons
    if queued(res):  # what the filter lets through (German recipes, football) goes to the gate
        if queued(res) < ray_settings.learning.min_batch_size:
            client.post("/api/learning/trigger", json={"adapter": loop_alias})
        c2 = wait_new_cycle(client, loop_alias, known)
        assert c2["status"] == "rejected", c2["reason"]
        assert c2["failed_criteria"] and all(f["code"] in ("no_improvement", "regression", "forgetting")
                                             for f in c2["failed_criteria"])
        rejected = [v for v in client.get("/api/serving/adapters/list").json()["versions"]
                    if v["id"] == c2["candidate_version_id"]][0]
        assert rejected["status"] == "rejected" and "learning cycle" in rejected["status_reason"]
        listed = {m["id"] for m in client.get("/v1/models").json()["data"]}
        assert rejected["ref"] not in listed  # a rejected candidate is not offered as a model
    assert active_ref(client, loop_alias) == after["model"]  # the alias never moved to the candidate
    # Nor does serving: watched for longer than the replicas' alias cache lives, every answer is the kept version.
    window_end = time.time() + 2 * ray_settings.serving.alias_ttl_seconds + 0.5
    while time.time() < window_end:
        kept = served(client, loop_alias)
        assert kept["model"] == after["model"] and kept["text"] == after["text"]

    # Manual rollback to any earlier version.
    rb = client.post("/api/learning/rollback", json={"adapter": loop_alias, "to_version": 1})
    assert rb.status_code == 200 and rb.json()["version"] == "loop@v1"
    assert served_as(client, loop_alias, "loop@v1")["text"] == before["text"]


@pytest.mark.timeout(400)
def test_time_trigger_fires_for_a_small_batch(client, loop_alias, ray_settings):
    items = client.get("/api/learning/cycles", params={"adapter": loop_alias}).json()["items"]
    known = {c["cycle_id"] for c in items}
    sent_at = datetime.now(timezone.utc)  # without an earlier cycle the interval counts from the oldest sample
    extra = feedback(loop_alias, records()[215:218], source="time-trigger")
    res = client.post("/api/feedback/batch", json={"items": extra}).json()
    assert res["accepted"] == 3 and queued(res) >= 1, res
    c = wait_new_cycle(client, loop_alias, known, timeout=300)
    assert c["trigger"] == "time" and c["samples"] == queued(res)  # < min_batch_size: only the time trigger fires
    # ... and only once train_interval_seconds have passed since the alias's previous cycle started.
    previous = max((utc(x["started_at"]) for x in items), default=sent_at)
    waited = (utc(c["started_at"]) - previous).total_seconds()
    assert waited >= ray_settings.learning.train_interval_seconds - 0.5, waited


@pytest.mark.timeout(600)
def test_forgetting_budget_rejects_with_its_figure_and_search_augments_the_data(client, ray_settings, loop_alias):
    """(After the time-trigger test: this cycle runs outside the deployed loop, whose time trigger does not see it.)
    A real cycle (the deployment's job manager trains on Ray, the library evaluates and decides) under a forgetting
    budget no candidate can meet, with search augmentation on over the ingested Baurecht corpus: rejected for
    "forgetting" with its KL figure, and its training data holds search results marked as such."""
    import asyncio

    from actors.clients import JobManagerClient
    from actors.job_manager import get_or_create_job_manager
    from clara_ray.db.engine import Database
    from clara_ray.db.tables import new_id
    from clara_ray.learning.buffer import LearningBuffer
    from clara_ray.learning.cycle import CycleRunner
    from clara_ray.learning.evaluator import evaluate_request
    from clara_ray.learning.feedback import FeedbackIn
    from clara_ray.learning.search_augment import LibrarySearch
    from clara_ray.resources import documents_path

    docs = [d for d in load_jsonl(documents_path()) if d["domain"] == "baurecht"][:30]
    assert client.post("/api/datasets/corpus/ingest", json={"documents": docs, "use_ray": False}).status_code == 200
    s = ray_settings.model_copy(update={"learning": ray_settings.learning.model_copy(update={
        "max_kl": 1e-9, "augment_with_search": True, "eval_holdout_fraction": 0.0})})
    db = Database(s.storage.database_url)

    async def evaluate(req):
        return await asyncio.to_thread(evaluate_request, s, req)

    runner = CycleRunner(s, db, JobManagerClient(get_or_create_job_manager(s, replace_stale=False)), evaluate,
                         search=LibrarySearch(s, db))
    buffer = LearningBuffer(s, db)  # this test's own: the deployed buffer never sees these samples pending
    added = buffer.add([FeedbackIn(**f) for f in feedback(loop_alias, records()[220:250], source="kl-test")],
                       {loop_alias})
    assert sum(r.accepted for r in added) >= 20, [r.reason for r in added if not r.accepted]
    cycle_id = new_id()
    runner.start_record(cycle_id, loop_alias, "manual")
    samples = buffer.claim(loop_alias, cycle_id, 200)
    view = asyncio.run(runner.run(cycle_id, loop_alias, samples))

    assert (view["status"], view["reason_code"]) == ("rejected", "gate_failed"), view
    forgetting = [f for f in view["failed_criteria"] if f["code"] == "forgetting"]
    assert forgetting and "max_kl" in forgetting[0]["message"], view["failed_criteria"]
    assert f"{view['metrics_after']['kl']:.4f}" in forgetting[0]["message"]  # the figure that failed
    counts = view["training_data"]
    assert counts["feedback"] == len(samples) and counts["search"] > 0, counts
    rows = [json.loads(line) for line in (s.storage.data_dir / "learning" / f"{cycle_id}.jsonl").open()]
    assert sum(r["clara_source"] == "search" for r in rows) == counts["search"]
    models = {m["id"] for m in client.get("/v1/models").json()["data"]}
    candidate = runner.registry.get_version(view["candidate_version_id"])
    assert candidate.status == "rejected" and f"{loop_alias}@v{candidate.version}" not in models


@pytest.mark.timeout(400)
def test_buffer_loses_nothing_across_kills(client, api_url, ray_cluster, ray_settings, loop_alias):
    import ray

    from actors.learning_buffer import BUFFER_NAME
    from clara_ray.db.engine import Database
    from clara_ray.db.tables import Feedback, LearningCycle
    from clara_ray.learning.buffer import DROPPED, RATING_ONLY
    from clara_ray.learning.evalset import EVAL_HOLDOUT
    from sqlalchemy import func, select

    acknowledged: list[str] = []
    errors: list[int] = []
    stop = threading.Event()

    def sender():
        i = 0
        with httpx.Client(base_url=api_url, timeout=60) as c:
            while not stop.is_set() and i < 400:
                items = [{"prompt": f"Kill-Test Frage {i}-{k}: Gilt § 34 BauGB für mein Grundstück Nr. {i}-{k}?",
                          "response": "Ja, wenn sich das Vorhaben in die Eigenart der näheren Umgebung einfügt.",
                          "rating": 0.9, "adapter": loop_alias, "source": "killtest"} for k in range(5)]
                r = c.post("/api/feedback/batch", json={"items": items})
                if r.status_code == 201:
                    acknowledged.extend(x["id"] for x in r.json()["results"] if x["accepted"])
                else:
                    errors.append(r.status_code)
                i += 1

    t = threading.Thread(target=sender)
    t.start()
    actor = ray.get_actor(BUFFER_NAME, namespace=ray_settings.ray.namespace)
    for _ in range(2):
        seen = len(acknowledged)
        poll(lambda: len(acknowledged) > seen or not t.is_alive(), "no feedback acknowledged before the kill", 60)
        pid = ray.get(actor.pid.remote())
        ray.kill(actor, no_restart=False)  # the actor restarts (max_restarts=-1) and rebuilds from the database

        def restarted() -> bool:
            try:
                return ray.get(actor.pid.remote(), timeout=10) != pid
            except Exception:  # noqa: BLE001 - still restarting
                return False

        poll(restarted, "the learning buffer did not come back", 60)
    seen = len(acknowledged)
    poll(lambda: len(acknowledged) > seen or not t.is_alive(), "no feedback acknowledged after the restarts", 60)
    stop.set()
    t.join(120)
    assert acknowledged, f"nothing was acknowledged; statuses {errors[:5]}"
    db = Database(ray_settings.storage.database_url)
    with db.session() as s:
        persisted = set(s.scalars(select(Feedback.id).where(Feedback.source == "killtest")))
    assert set(acknowledged) <= persisted  # every acknowledged sample is in the database
    stats = client.get("/api/learning/buffer").json()
    assert stats["persisted_total"] >= len(persisted)

    def owners_are_live_cycles() -> bool:
        """Each claimed sample belongs to a recorded cycle that did not fail (failed and interrupted cycles give
        their samples back); the rest are pending or carry the buffer's own marker (dropped / rating only)."""
        with db.session() as s:
            owners = set(s.scalars(select(Feedback.cycle_id).where(Feedback.source == "killtest",
                                                                    Feedback.cycle_id.is_not(None))))
            cycles = dict(s.execute(select(LearningCycle.id, LearningCycle.status)
                                    .where(LearningCycle.id.in_(owners - {DROPPED, RATING_ONLY, EVAL_HOLDOUT}))).all())
        return all(o in (DROPPED, RATING_ONLY, EVAL_HOLDOUT) or cycles.get(o) not in (None, "failed") for o in owners)

    poll(owners_are_live_cycles, "samples are owned by a failed or unknown cycle", 60)

    def pending_matches_database() -> bool:
        """The restarted buffer's pending view is exactly the database's unclaimed samples: nothing lost or invented."""
        in_memory = client.get("/api/learning/buffer").json()["pending"].get(loop_alias, 0)
        with db.session() as s:
            unclaimed = s.scalar(select(func.count()).select_from(Feedback).where(Feedback.alias == loop_alias,
                                                                                  Feedback.cycle_id.is_(None)))
        return in_memory == unclaimed

    poll(pending_matches_database, "the buffer's pending count differs from the database", 60)
