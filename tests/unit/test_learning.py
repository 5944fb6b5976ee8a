"""Learning loop logic without Ray: quality scoring, durable buffer, triggers, coalescing, gate, failure handling."""

from __future__ import annotations

import asyncio

import pytest

from clara_ray.adapters.registry import AdapterRegistry
from clara_ray.learning.buffer import LearningBuffer
from clara_ray.learning.feedback import FeedbackIn
from clara_ray.learning.evaluator import CycleEvaluation, EvalRequest, VersionScores
from clara_ray.learning.loop import LearningLoop, NothingToTrain

ANSWER = "Nach § 35 BauGB ist ein Vorhaben im Außenbereich nur ausnahmsweise zulässig, wenn öffentliche Belange nicht entgegenstehen."


def fb(i: int, alias="bau", **kw) -> FeedbackIn:
    base = dict(prompt=f"Frage {i}: Ist mein Vorhaben im Außenbereich Nummer {i} zulässig?", response=ANSWER,
                rating=1.0, adapter=alias)
    return FeedbackIn(**{**base, **kw})


@pytest.fixture
def loop_settings(settings):
    return settings.model_copy(update={"learning": settings.learning.model_copy(update={
        "min_batch_size": 5, "train_interval_seconds": 0.3, "check_interval_seconds": 0.05, "buffer_size": 50,
        "min_improvement": 0.01, "max_regression": 0.02,
        # Trigger and accounting tests count every accepted sample as trainable; the holdout and the relevance
        # screen have their own tests (test_feedback_screen.py).
        "eval_holdout_fraction": 0.0, "min_relevance": None})})


def test_quality_rejects_with_reasons(loop_settings, db):
    buf = LearningBuffer(loop_settings, db)
    res = buf.add([fb(1), fb(1), fb(2, prompt="Was?", response="kurz", rating=1.0),
                   fb(3, rating=0.2), fb(4, response="spam " * 40), fb(5, rating=0.1, correction=ANSWER + " Korrigiert.")])
    assert [r.accepted for r in res] == [True, False, False, False, False, True]
    assert [r.status.value for r in res] == ["queued"] + ["rejected"] * 4 + ["queued"]
    assert "duplicate" in res[1].reason and "too short" in res[2].reason
    assert "low rating" in res[3].reason and "repetitive" in res[4].reason
    assert [r.reason_code and r.reason_code.value for r in res] == [
        None, "duplicate", "poor_text", "low_rating", "repetitive", None]  # the same as codes, for clients
    assert buf.counts["rejected: duplicate"] == 1 and buf.counts["rejected: poor_text"] == 1
    assert buf.add([fb(1)])[0].reason.startswith("duplicate")  # across batches too


def test_durable_rebuild_claim_release_and_bound(loop_settings, db):
    dropping = loop_settings.model_copy(update={"learning": loop_settings.learning.model_copy(
        update={"overflow": "drop_lowest"})})
    buf = LearningBuffer(dropping, db)
    buf.add([fb(i, importance=float(i % 3)) for i in range(60)])  # 60 > buffer_size 50
    assert buf.stats()["pending_total"] == 50 and buf.counts["dropped"] == 10 and buf.stats()["dropped_total"] == 10
    again = LearningBuffer(loop_settings, db)  # a restarted actor sees the same pending samples
    assert again.stats()["pending_total"] == 50
    rows = again.claim("bau", "cyc1", 20)
    assert len(rows) == 20 and all(r.importance == 2.0 for r in rows)  # highest priority first
    third = LearningBuffer(loop_settings, db)
    assert third.stats()["pending_total"] == 30  # claimed samples are never handed out again
    assert third.release("cyc1") == 20 and third.stats()["pending_total"] == 50


class FakeJobs:
    """Completes each job by registering a candidate version; `outcome` picks FAILED instead."""

    def __init__(self, registry: AdapterRegistry, fail=False, delay=0.0):
        self.registry, self.fail, self.delay, self.requests = registry, fail, delay, []

    async def create(self, request, created_by=None):
        self.requests.append(request.model_dump(mode="json"))
        return {"job_id": f"job{len(self.requests)}"}

    async def wait_finished(self, job_id, timeout):
        await asyncio.sleep(self.delay)
        if self.fail:
            return {"job_id": job_id, "status": "FAILED", "error": "worker crashed"}
        v = self.registry.register(name="bau", uri=f"/cand/{job_id}", base_model="tiny-x", trainer_type="CONTINUOUS",
                                   rank=8, parent_id=self.registry.resolve("bau").id)
        return {"job_id": job_id, "status": "COMPLETED", "adapter_version_id": v.id}


async def wait_for(pred, timeout=10.0):
    end = asyncio.get_running_loop().time() + timeout
    while not pred():
        assert asyncio.get_running_loop().time() < end, "condition not reached"
        await asyncio.sleep(0.02)


def make_loop(settings, db, jobs, ppl):
    reg = AdapterRegistry(db)
    if reg.alias("bau") is None:
        reg.activate(reg.register(name="bau", uri="/active", base_model="tiny-x", trainer_type="LORA", rank=8,
                                  domain="baurecht").id)

    async def evaluate(req: EvalRequest) -> CycleEvaluation:  # `ppl(uri, records)` stands in for the evaluator
        def scores(uri):
            return VersionScores(val_ppl=ppl(uri, req.sets.validation), regression_ppl=ppl(uri, req.sets.regression))

        return CycleEvaluation(before=scores(req.active_uri), after=scores(req.candidate_uri), kl=0.0,
                               validation_records=len(req.sets.validation),
                               regression_records=len(req.sets.regression), device="cpu", seconds=0.0)

    return LearningLoop(settings, db, jobs, evaluate)


@pytest.mark.timeout(30)
async def test_size_trigger_promotes_and_time_trigger_fires(loop_settings, db):
    reg = AdapterRegistry(db)
    jobs = FakeJobs(reg)
    loop = make_loop(loop_settings, db, jobs, lambda uri, recs: 10.0 if uri == "/active" else 9.0)
    await loop.start()
    await loop.add([fb(i) for i in range(5)])  # = min_batch_size
    await wait_for(lambda: loop.cycles() and loop.cycles()[0]["status"] != "running" and not loop.running)
    c = loop.cycles()[0]
    assert c["status"] == "promoted" and c["trigger"] == "size" and c["samples"] == 5
    assert reg.resolve("bau").uri == "/cand/job1" and c["metrics_after"]["val_ppl"] == 9.0
    assert len(jobs.requests) == 1 and jobs.requests[0]["trainer_type"] == "CONTINUOUS"  # one job for the cycle
    await loop.add([fb(100)])  # one sample: only the time trigger can start a cycle
    await wait_for(lambda: len(loop.cycles()) == 2 and loop.cycles()[0]["status"] != "running")
    assert loop.cycles()[0]["trigger"] == "time"
    await loop.close()


@pytest.mark.timeout(30)
async def test_reject_keeps_active_and_failure_releases(loop_settings, db):
    reg = AdapterRegistry(db)
    loop = make_loop(loop_settings, db, FakeJobs(reg), lambda uri, recs: 10.0 if uri == "/active" else 12.0)
    await loop.start()
    await loop.add([fb(i) for i in range(5)])
    await wait_for(lambda: loop.cycles() and loop.cycles()[0]["status"] != "running" and not loop.running)
    c = loop.cycles()[0]
    assert c["status"] == "rejected" and reg.resolve("bau").uri == "/active"
    assert reg.get_version(c["candidate_version_id"]).status == "rejected"
    await loop.close()

    failing = make_loop(loop_settings, db, FakeJobs(reg, fail=True), lambda u, r: 10.0)
    await failing.start()
    await failing.add([fb(i) for i in range(200, 205)])
    await wait_for(lambda: any(c["status"] == "failed" for c in failing.cycles()) and not failing.running)
    assert failing.buffer.stats()["pending_total"] == 5  # the failed cycle's samples are pending again
    assert "bau" in failing.retry_after  # and wait one interval before the next automatic try
    await failing.close()


@pytest.mark.timeout(30)
async def test_trigger_while_running_is_coalesced(loop_settings, db):
    reg = AdapterRegistry(db)
    jobs = FakeJobs(reg, delay=0.5)
    loop = make_loop(loop_settings, db, jobs, lambda uri, recs: 10.0 if uri == "/active" else 9.0)
    await loop.start()
    with pytest.raises(NothingToTrain):
        await loop.trigger("bau")
    await loop.add([fb(i) for i in range(5)])
    await wait_for(lambda: "bau" in loop.running)
    await loop.add([fb(i) for i in range(300, 302)])  # arrives during the cycle
    assert (await loop.trigger("bau"))["result"] == "coalesced"
    await wait_for(lambda: len(loop.cycles()) == 2 and not loop.running, timeout=15)
    first, second = sorted(loop.cycles(), key=lambda c: c["started_at"])
    assert first["samples"] == 5 and second["samples"] == 2  # nothing that arrived during a cycle was lost
    await loop.close()


def test_validation_set_of_a_dataset_trained_adapter(loop_settings, db):
    """An adapter trained from a registered dataset is gated on that dataset's held-out split (read from its store)."""
    from clara_ray.datasets.registry import DatasetRegistry
    from clara_ray.learning.evaluate import NoEvaluationData, validation_records

    records = [{"prompt": f"Frage {i} zu § {i} BauGB?", "response": f"Antwort {i}: siehe § {i} BauGB."}
               for i in range(200)]
    ds = DatasetRegistry(db, str(loop_settings.storage.data_dir / "datasets")).create("bau-ds", records,
                                                                                       source={"type": "records"})
    reg = AdapterRegistry(db)
    v = reg.register(name="dsbau", uri="/a", base_model="tiny-x", trainer_type="LORA", rank=8,
                     dataset={"dataset_id": ds["id"], "paths": None, "filter": None})
    child = reg.register(name="dsbau", uri="/b", base_model="tiny-x", trainer_type="CONTINUOUS", rank=8,
                         parent_id=v.id, dataset={"paths": ["/gone/feedback.jsonl"]})
    val = validation_records(reg, child.id, 0.1)  # walks back to the dataset-trained root
    assert 5 <= len(val) <= 40 and all(isinstance(item, list) for item in val)  # chat messages, held out by hash

    orphan = reg.register(name="orphan", uri="/c", base_model="tiny-x", trainer_type="LORA", rank=8,
                          dataset={"paths": ["/gone/data.jsonl"]})
    with pytest.raises(NoEvaluationData, match="no validation records for orphan"):
        validation_records(reg, orphan.id, 0.1)


@pytest.mark.timeout(30)
async def test_cycle_without_validation_data_fails_before_training(loop_settings, db):
    reg = AdapterRegistry(db)
    reg.activate(reg.register(name="orphan", uri="/o", base_model="tiny-x", trainer_type="LORA", rank=8).id)
    jobs = FakeJobs(reg)
    loop = make_loop(loop_settings, db, jobs, lambda u, r: 10.0)
    await loop.start()
    await loop.add([fb(i, alias="orphan") for i in range(300, 305)])
    await wait_for(lambda: any(c["status"] == "failed" for c in loop.cycles()) and not loop.running)
    c = loop.cycles()[0]
    assert c["alias"] == "orphan" and "no validation records for orphan" in c["reason"]
    assert c["reason_code"] == "no_evaluation_data"
    assert jobs.requests == []  # no training job was spent on a cycle the gate could not judge
    assert loop.buffer.stats()["pending"]["orphan"] == 5
    await loop.close()


@pytest.mark.timeout(30)
async def test_cycle_version_keeps_the_alias_domain_and_description_and_lists_failed_criteria(loop_settings, db):
    reg = AdapterRegistry(db)
    reg.activate(reg.register(name="bau", uri="/active", base_model="tiny-x", trainer_type="LORA", rank=8,
                              domain="baurecht", description="Baurecht: BauGB, Baugenehmigung").id)
    jobs = FakeJobs(reg)
    loop = make_loop(loop_settings, db, jobs, lambda uri, recs: 10.0 if uri == "/active" else 10.5)
    await loop.start()
    await loop.add([fb(i) for i in range(5)])
    await wait_for(lambda: loop.cycles() and loop.cycles()[0]["status"] != "running" and not loop.running)
    # What the router matches on is the alias's, not a note about the cycle (training/pipeline.py stores these).
    req = jobs.requests[0]
    assert (req["domain"], req["description"]) == ("baurecht", "Baurecht: BauGB, Baugenehmigung")
    c = loop.cycles()[0]
    assert c["status"] == "rejected" and [f["code"] for f in c["failed_criteria"]] == ["no_improvement", "regression"]
    assert c["reason_code"] == "gate_failed"
    assert "+5.00%" in c["reason"] and "no_improvement" in c["reason"] and "regression" in c["reason"]
    await loop.close()
