"""Warm training without Ray: a worker holding the base runs jobs and evaluations in-process, leaves the base clean
(a second job equals one on a fresh worker), stops on cancel, and the router sends only eligible jobs to it."""

from __future__ import annotations

import asyncio
import json
import os
import threading

import pytest
import torch

from clara_ray.resources import load_jsonl, qa_path
from clara_ray.training.spec import TrainingJobRequest
from clara_ray.training.warm import JobStopped, WarmTrainer, warm_ineligibility
from clara_ray.training.warm_router import InProcessWarmPool, WarmRouter
from tests.conftest import roots_in
from tests.unit.test_job_manager import FakeLauncher


class ListSink:
    """Collects a job's events; `on_step` runs at every step event (the cancel test stops the job there)."""

    def __init__(self, on_step=None):
        self.events: list[dict] = []
        self.closed = False
        self.on_step = on_step

    def emit(self, event: dict, force: bool = False) -> None:
        self.events.append(event)
        if event["kind"] == "step" and self.on_step:
            self.on_step(event)

    def close(self) -> None:
        self.closed = True

    def losses(self) -> list[float]:
        return [e["loss"] for e in self.events if e["kind"] == "step"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Settings (tiny base without warm start, for speed), a SQLite database and two data files."""
    from clara_ray.config import load_settings
    from clara_ray.db.engine import Database

    root = tmp_path_factory.mktemp("warm")
    os.environ["CLARA_CONFIG"] = str(root / "none.yaml")
    overrides = roots_in(root)
    overrides["training"].update(epochs=1, batch_size=4)
    settings = load_settings(storage={"data_dir": root / "clara", "database_url": f"sqlite:///{root / 'c.db'}"},
                             model={"tiny_pretrain_steps": 0}, **overrides)
    db = Database(settings.storage.database_url)
    rows = [r for r in load_jsonl(qa_path()) if r["domain"] == "baurecht"]
    files = {}
    for name, part in (("one", rows[:40]), ("two", rows[40:80])):
        files[name] = root / f"{name}.jsonl"
        files[name].write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in part) + "\n", encoding="utf-8")
    torch.set_num_threads(1)  # bit-identical runs
    yield settings, db, files
    db.dispose()


@pytest.fixture(scope="module")
def trainer(world):
    settings, db, _ = world
    return WarmTrainer(settings, db)


def req(name: str, path, **kw) -> TrainingJobRequest:
    return TrainingJobRequest(name=name, data_paths=[str(path)], learning_rate=3e-3, **kw)


def base_is_pristine(trainer: WarmTrainer) -> bool:
    from transformers import AutoModelForCausalLM

    fresh = AutoModelForCausalLM.from_pretrained(trainer.base_path).state_dict()
    held = trainer.base.state_dict()
    return (set(held) == set(fresh) and all(torch.equal(held[k], fresh[k]) for k in fresh)
            and not any("lora_" in n for n, _ in trainer.base.named_modules()))


@pytest.mark.timeout(120)
def test_warm_job_registers_a_candidate_and_leaves_the_base_clean(world, trainer):
    from clara_ray.adapters.registry import AdapterRegistry

    settings, db, files = world
    sink = ListSink()
    res = trainer.run_job("warm-1", req("warma", files["one"], activate="always"), sink)
    version = AdapterRegistry(db).get_version(res.version_id)
    assert res.ref == "warma@v1" and res.activated and version.job_id == "warm-1"
    assert version.metrics["ppl_after"] == res.metrics["ppl_after"] < res.metrics["ppl_before"]
    assert res.metrics["runner"] == "warm" and res.metrics["world_size"] == 1 and res.metrics["step"] >= 2
    for k in ("prepare_seconds", "fit_seconds", "register_seconds", "t_first_step", "t_submitted", "t_registered"):
        assert k in res.metrics
    kinds = [e["kind"] for e in sink.events]
    assert kinds[0] == "data" and kinds[1] == "eval" and "step" in kinds and sink.events[-1].get("final")
    assert res.data_stats["train_records"] + res.data_stats["val_records"] == 40
    assert base_is_pristine(trainer)


@pytest.mark.timeout(180)
def test_second_job_on_the_held_base_equals_one_on_a_fresh_worker(world, trainer):
    settings, db, files = world
    if not trainer.jobs_run:
        trainer.run_job("warm-1", req("warma", files["one"], activate="always"), ListSink())
    warm_lora, warm_cont = ListSink(), ListSink()
    a = trainer.run_job("warm-2", req("warmb", files["two"]), warm_lora)
    c = trainer.run_job("warm-3", req("warmc", files["two"], trainer_type="CONTINUOUS", parent="warma@v1"), warm_cont)
    fresh = WarmTrainer(settings, db)
    fresh_lora, fresh_cont = ListSink(), ListSink()
    b = fresh.run_job("fresh-2", req("warmb", files["two"]), fresh_lora)
    d = fresh.run_job("fresh-3", req("warmc", files["two"], trainer_type="CONTINUOUS", parent="warma@v1"), fresh_cont)
    assert warm_lora.losses() and warm_lora.losses() == fresh_lora.losses()
    assert a.metrics["ppl_after"] == b.metrics["ppl_after"] and a.metrics["ppl_before"] == b.metrics["ppl_before"]
    # CONTINUOUS starts from the parent: it begins better than a fresh adapter and trains the same on both workers.
    assert warm_cont.losses() == fresh_cont.losses() and c.metrics["ppl_after"] == d.metrics["ppl_after"]
    assert c.metrics["ppl_before"] < a.metrics["ppl_before"]
    assert base_is_pristine(trainer)


@pytest.mark.timeout(120)
def test_cancel_stops_the_job_and_registers_nothing(world, trainer):
    from clara_ray.adapters.registry import AdapterRegistry

    settings, db, files = world
    stepped = threading.Event()
    sink = ListSink(on_step=lambda e: stepped.set())
    trainer.start("warm-cancel", req("warmx", files["one"], epochs=500).model_dump(mode="json"), sink)
    assert stepped.wait(60)
    assert trainer.cancel("warm-cancel")
    with pytest.raises(JobStopped):
        trainer.wait("warm-cancel")
    assert sink.closed and trainer.has("warm-cancel")  # kept answerable for a re-attaching manager
    with pytest.raises(JobStopped):
        trainer.wait("warm-cancel")
    assert len(sink.losses()) < 50  # stopped long before 500 epochs
    assert AdapterRegistry(db).versions("warmx") == []
    assert base_is_pristine(trainer)


@pytest.mark.timeout(60)
def test_cancel_that_overtakes_the_start_still_stops_the_job(world, trainer):
    settings, db, files = world
    assert trainer.cancel("warm-early") is False  # not started yet: remembered
    sink = ListSink()
    trainer.start("warm-early", req("warmy", files["one"]).model_dump(mode="json"), sink)
    with pytest.raises(JobStopped, match="before it started"):
        trainer.wait("warm-early")
    assert sink.losses() == [] and base_is_pristine(trainer)


@pytest.mark.timeout(120)
def test_evaluation_on_the_held_base_equals_a_fresh_evaluation(world, trainer):
    from clara_ray.adapters.registry import AdapterRegistry
    from clara_ray.learning.evaluate import regression_records
    from clara_ray.learning.evaluator import EvalRequest, EvalSets, evaluate_request
    from clara_ray.records import normalise

    settings, db, files = world
    if not trainer.jobs_run:
        trainer.run_job("warm-1", req("warma", files["one"], activate="always"), ListSink())
    cand = trainer.run_job("warm-4", req("warma", files["two"], trainer_type="CONTINUOUS"), ListSink())
    active = AdapterRegistry(db).resolve("warma")
    sets = EvalSets(validation=[normalise(r) for r in load_jsonl(files["two"])][:6],
                    regression=regression_records(None)[:6])
    request = EvalRequest(active_uri=active.uri, candidate_uri=cand.uri, sets=sets)
    warm = trainer.evaluate(request)
    cold = evaluate_request(settings, request)
    assert warm.before == cold.before and warm.after == cold.after and warm.kl == pytest.approx(cold.kl, abs=1e-9)
    assert warm.after.val_ppl != warm.before.val_ppl
    assert base_is_pristine(trainer)
    with trainer._lock:  # a busy worker declines instead of waiting (the caller evaluates elsewhere)
        assert trainer.evaluate(request, wait=False) is None


def test_eligibility(world):
    settings, _, files = world
    ok = dict(data_bytes=1000)
    assert warm_ineligibility(req("aa", files["one"]), settings, **ok) is None
    assert warm_ineligibility(req("aa", files["one"], trainer_type="CONTINUOUS"), settings, **ok) is None
    for kw, word in (({"trainer_type": "QLORA"}, "QLORA"), ({"num_workers": 2}, "worker"),
                     ({"use_gpu": True}, "device"), ({"base_model": "other/model"}, "base model"),
                     ({"checkpoint_every_steps": 5}, "checkpoints")):
        assert word in warm_ineligibility(req("aa", files["one"], **kw), settings, **ok), kw
    assert "not local" in warm_ineligibility(req("aa", files["one"]), settings, data_bytes=None)
    assert "warm_max_data_mb" in warm_ineligibility(req("aa", files["one"]), settings, data_bytes=10**9)
    off = settings.model_copy(update={"training": settings.training.model_copy(update={"warm_pool_size": 0})})
    assert "off" in warm_ineligibility(req("aa", files["one"]), off, **ok)


@pytest.mark.timeout(180)
async def test_manager_routes_eligible_jobs_warm_and_the_rest_to_ray_train(world, trainer):
    from clara_ray.training.manager import JobManager

    settings, db, files = world
    cold = FakeLauncher()
    m: JobManager | None = None

    async def on_progress(job_id, events):
        await m.on_progress(job_id, events)

    router = WarmRouter(settings, db, cold, InProcessWarmPool([trainer], on_progress, asyncio.get_running_loop()))
    m = JobManager(settings, db, router)
    try:
        warm = await m.create(req("routed", files["one"], activate="always"))
        # While the one warm worker is busy, even an eligible job goes to Ray Train; so do ineligible ones.
        busy = await m.create(req("busy", files["one"]))
        ddp = await m.create(req("ddp", files["one"], num_workers=2))
        done = await m.wait_finished(warm["job_id"], timeout=120)
        assert done["status"] == "COMPLETED", done["error"]
        assert router.routed == {warm["job_id"]: "warm", busy["job_id"]: "ray_train", ddp["job_id"]: "ray_train"}
        assert cold.order == ["busy", "ddp"]
        assert done["metrics"]["runner"] == "warm" and done["adapter_version_id"] and done["metrics"]["activated"]
        assert done["step"] == done["total_steps"] and done["metrics"]["data"]["train_records"] > 0
        points = m.metrics(warm["job_id"])["points"]
        assert points and max(p["step"] for p in points) == done["step"]
        for fake in (busy, ddp):
            cold.runs[fake["job_id"]].finish(RuntimeError("not run"))
            assert (await m.wait_finished(fake["job_id"], timeout=10))["status"] == "FAILED"

        # A warm job cancelled through the manager ends CANCELLED, and the worker takes the next job.
        long = await m.create(req("longjob", files["one"], epochs=500))
        assert router.routed[long["job_id"]] == "warm"
        seq = 0
        while m.get(long["job_id"])["step"] == 0:
            events = await m.wait_events(seq, timeout=30)
            assert events, "no progress from the warm job"
            seq = events[-1]["seq"]
        view = await m.cancel(long["job_id"])
        assert view["status"] == "CANCELLED", view
        again = await m.create(req("after", files["one"]))
        assert router.routed[again["job_id"]] == "warm"
        assert (await m.wait_finished(again["job_id"], timeout=120))["status"] == "COMPLETED"
    finally:
        await m.close()


@pytest.mark.timeout(120)
async def test_a_restarted_manager_reattaches_to_a_running_warm_job(world, trainer):
    from clara_ray.training.manager import JobManager

    settings, db, files = world
    managers: list[JobManager] = []

    async def on_progress(job_id, events):
        await managers[-1].on_progress(job_id, events)

    pool = InProcessWarmPool([trainer], on_progress, asyncio.get_running_loop())
    managers.append(JobManager(settings, db, WarmRouter(settings, db, FakeLauncher(), pool)))
    job = await managers[0].create(req("reattach", files["one"], epochs=40))
    await managers[0].close()  # the manager goes away; the warm worker keeps training
    router = WarmRouter(settings, db, FakeLauncher(), pool)
    managers.append(JobManager(settings, db, router))
    try:
        await managers[1].start()  # RUNNING job: the router finds it on the warm worker, not re-queued
        assert managers[1].get(job["job_id"])["status"] == "RUNNING"
        done = await managers[1].wait_finished(job["job_id"], timeout=100)
        assert done["status"] == "COMPLETED" and done["metrics"]["runner"] == "warm", done["error"]
        assert router._busy == {}  # the slot is free again
    finally:
        await managers[1].close()
