"""Job manager logic with an in-process launcher: queue, cap, priorities, cancel, retry, timeout, recovery, events."""

import asyncio

import pytest

from clara_ray.training.job_store import IllegalTransition
from clara_ray.training.manager import JobManager
from clara_ray.training.spec import TrainingJobRequest


class FakeRun:
    def __init__(self):
        self.done = asyncio.Event()
        self.outcome = None
        self.cancelled = False

    async def result(self):
        await self.done.wait()
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome

    async def cancel(self):
        self.cancelled = True
        self.outcome = RuntimeError("killed")
        self.done.set()

    def finish(self, outcome):
        self.outcome = outcome
        self.done.set()


class FakeLauncher:
    def __init__(self):
        self.runs: dict[str, FakeRun] = {}
        self.order: list[str] = []
        self.alive: set[str] = set()

    def launch(self, job_id, request):
        self.order.append(request["name"])
        self.runs[job_id] = FakeRun()
        return self.runs[job_id]

    def reattach(self, job_id):
        return self.runs.get(job_id) if job_id in self.alive else None


RESULT = {"version_id": "v1", "ref": "aa@v1", "uri": "/x", "activated": True, "metrics": {"step": 5}, "data_stats": {}}


def req(name, **kw):
    return TrainingJobRequest(name=name, data_paths=["d.jsonl"], **kw)


@pytest.fixture
async def make_manager(settings, db):
    made = []

    def make(launcher=None, **training):
        s = settings.model_copy(update={"training": settings.training.model_copy(update=training)})
        made.append(JobManager(s, db, launcher or FakeLauncher()))
        return made[-1]
    yield make
    for m in made:
        await m.close()


async def settle(m, job_id):
    """Until the manager has recorded the job's end (its supervisor task runs on the same loop)."""
    await m.wait_finished(job_id, timeout=5)


@pytest.mark.timeout(30)
async def test_cap_priority_and_completion(make_manager):
    m = make_manager(max_concurrent_jobs=1)
    a = await m.create(req("aa"))
    b = await m.create(req("bb", priority=5))
    c = await m.create(req("cc", priority=1))
    assert m.get(a["job_id"])["status"] == "RUNNING"
    assert m.get(b["job_id"])["status"] == m.get(c["job_id"])["status"] == "QUEUED"
    m.launcher.runs[a["job_id"]].finish(RESULT)
    await settle(m, a["job_id"])
    done = m.get(a["job_id"])
    assert done["status"] == "COMPLETED" and done["adapter_version_id"] == "v1" and done["metrics"]["adapter"] == "aa@v1"
    assert m.launcher.order == ["aa", "cc"]  # priority 1 before the earlier priority-5 job


@pytest.mark.timeout(30)
async def test_failure_cancel_retry(make_manager):
    m = make_manager(max_concurrent_jobs=2)
    a = await m.create(req("aa"))
    b = await m.create(req("bb"))
    m.launcher.runs[a["job_id"]].finish(ValueError("no valid training records in x.jsonl"))
    await settle(m, a["job_id"])
    failed = m.get(a["job_id"])
    assert failed["status"] == "FAILED" and "no valid training records" in failed["error"]
    cancelled = await m.cancel(b["job_id"])
    assert cancelled["status"] == "CANCELLED" and m.launcher.runs[b["job_id"]].cancelled
    with pytest.raises(IllegalTransition):
        await m.cancel(b["job_id"])
    again = await m.retry(a["job_id"])
    assert again["attempt"] == 2 and again["retry_of"] == a["job_id"] and again["status"] == "RUNNING"
    with pytest.raises(IllegalTransition, match="only FAILED or CANCELLED"):
        await m.retry(again["job_id"])


@pytest.mark.timeout(30)
async def test_cancel_queued_job_never_starts(make_manager):
    m = make_manager(max_concurrent_jobs=1)
    await m.create(req("aa"))
    q = await m.create(req("bb"))
    assert (await m.cancel(q["job_id"]))["status"] == "CANCELLED"
    assert m.launcher.order == ["aa"]


@pytest.mark.timeout(30)
async def test_timeout_fails_job(make_manager):
    m = make_manager()
    j = await m.create(req("aa", timeout_seconds=0.2))
    await settle(m, j["job_id"])  # the job never finishes by itself: only its timeout can end it
    view = m.get(j["job_id"])
    assert view["status"] == "FAILED" and "timed out" in view["error"]
    assert m.launcher.runs[j["job_id"]].cancelled


@pytest.mark.timeout(30)
async def test_restart_requeues_lost_jobs_and_reattaches_live_ones(make_manager):
    launcher = FakeLauncher()
    m1 = make_manager(launcher, max_concurrent_jobs=2)
    a = await m1.create(req("aa"))
    b = await m1.create(req("bb"))
    launcher.alive = {a["job_id"]}  # bb's runner died with the old manager
    m2 = make_manager(launcher, max_concurrent_jobs=2)
    await m2.start()
    assert m2.get(a["job_id"])["status"] == "RUNNING"
    assert m2.get(b["job_id"])["status"] == "RUNNING"  # re-queued, then started again
    assert launcher.order == ["aa", "bb", "bb"]
    launcher.runs[a["job_id"]].finish(RESULT)
    await settle(m2, a["job_id"])
    assert m2.get(a["job_id"])["status"] == "COMPLETED"


@pytest.mark.timeout(30)
async def test_events_in_order_and_progress(make_manager):
    m = make_manager()
    j = await m.create(req("aa"))
    await m.on_progress(j["job_id"], [
        {"kind": "step", "step": 1, "total_steps": 4, "loss": 3.0, "learning_rate": 0.1, "tokens_per_s": 10, "time": 1.0},
        {"kind": "step", "step": 2, "total_steps": 4, "loss": 2.5, "learning_rate": 0.1, "tokens_per_s": 10, "time": 2.0},
    ])
    m.launcher.runs[j["job_id"]].finish(RESULT)
    await settle(m, j["job_id"])
    events = await m.wait_events(0, timeout=1)
    kinds = [(e["type"], e["data"].get("status") or e["data"].get("step")) for e in events]
    assert kinds == [("job_update", "PENDING"), ("job_update", "QUEUED"), ("job_update", "RUNNING"),
                     ("metrics_update", 1), ("metrics_update", 2), ("job_update", "COMPLETED")]
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    assert m.get(j["job_id"])["step"] == 5
    waiter = asyncio.create_task(m.wait_events(events[-1]["seq"], timeout=5))
    await asyncio.sleep(0.05)
    await m.create(req("bb"))
    got = await asyncio.wait_for(waiter, 1)  # woken by the publish, not by a poll interval
    assert got[0]["data"]["name"] == "bb"


@pytest.mark.timeout(30)
async def test_curve_points_are_stored_thinned_and_removed_with_the_job(make_manager):
    from datetime import timedelta

    from clara_ray.db.tables import utcnow
    from clara_ray.training.job_store import JobNotFound

    m = make_manager()
    j = await m.create(req("aa"))
    steps = [{"kind": "step", "step": s, "total_steps": 30, "loss": 3.0 - s / 10, "learning_rate": 0.01,
              "tokens_per_s": 5.0, "time": float(s)} for s in range(1, 31)]
    await m.on_progress(j["job_id"], [{"kind": "eval", "step": 0, "perplexity": 40.0, "total_steps": 30, "time": 0.0},
                                      {"kind": "data", "train_records": 9, "time": 0.0}, *steps[:20]])
    await m.on_progress(j["job_id"], [*steps[20:], {"kind": "eval", "step": 30, "perplexity": 12.5, "final": True,
                                                    "time": 31.0}])
    points = m.metrics(j["job_id"])["points"]
    assert [p["step"] for p in points if p["kind"] == "step"] == list(range(1, 31))
    assert points[0] == {"kind": "eval", "step": 0, "time": 0.0, "perplexity": 40.0}
    assert points[-1]["perplexity"] == 12.5 and points[-1]["final"] is True
    assert points[1] == {"kind": "step", "step": 1, "time": 1.0, "loss": 2.9, "learning_rate": 0.01,
                         "tokens_per_s": 5.0}  # no total_steps / data fields: only the curve values

    thinned = m.store.metrics(j["job_id"], max_points=7)
    kept = [p["step"] for p in thinned if p["kind"] == "step"]
    assert len(kept) <= 8 and kept[0] == 1 and kept[-1] == 30  # first and last step always kept
    assert sum(p["kind"] == "eval" for p in thinned) == 2  # eval points are never thinned

    with pytest.raises(JobNotFound):
        m.metrics("nope")
    m.launcher.runs[j["job_id"]].finish(RESULT)
    await settle(m, j["job_id"])
    assert m.store.delete_finished_before(utcnow() + timedelta(seconds=1)) == 1
    assert m.store.metrics(j["job_id"]) == []
