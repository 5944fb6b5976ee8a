"""Sweeps on Ray Tune through the API, on the tiny model: early stopping ends the worse trial, the best becomes the
version with its configuration, trials stream over the WebSocket, the saved recipe drives the alias's next job,
cancel stops every trial; and the learning loop tunes its own continuous recipe after "no improvement" rejections."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.ray.loop_checks import baurecht_records, next_decided_cycle, registry_at
from tests.ray.own_app import deploy_own_app, remove_own_app
from tests.waiting import poll

pytestmark = [pytest.mark.ray]
FINISHED = ("COMPLETED", "FAILED", "CANCELLED")


def records():
    return baurecht_records()


def write(path, rows):
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return str(path)


def finished(client, job_id, timeout=400):
    def done():
        view = client.get(f"/api/training/jobs/{job_id}").json()
        return view if view["status"] in FINISHED else None
    return poll(done, f"job {job_id} did not finish", timeout, 0.5)


@pytest.mark.timeout(600)
def test_sweep_stops_the_worse_trial_registers_the_best_and_its_recipe_drives_the_next_job(
        api_url, client, ray_settings, tmp_path):
    from websockets.sync.client import connect

    data = write(tmp_path / "sweep.jsonl", records()[:80])
    r = client.post("/api/training/jobs", json={
        "name": "sweeplaw", "data_paths": [data], "epochs": 3, "activate": "always",
        # Grid order with one trial at a time: the 1e-6 trial reaches its first evaluation after the 3e-3 one,
        # far behind it, and the halving scheduler stops it there.
        "sweep": {"space": {"learning_rate": [3e-3, 1e-6]}, "search": "grid", "max_concurrent_trials": 1,
                  "save_recipe": True}})
    assert r.status_code == 201, r.text
    job_id = r.json()["job_id"]
    view = finished(client, job_id)
    assert view["status"] == "COMPLETED", view["error"]

    trials = {t["config"]["learning_rate"]: t for t in view["metrics"]["sweep"]["trials"]}
    assert trials[3e-3]["status"] == "completed" and trials[3e-3]["evaluations"] == 3
    assert trials[1e-6]["status"] == "stopped_early" and trials[1e-6]["evaluations"] == 1
    assert trials[1e-6]["curve"][0] > trials[3e-3]["curve"][0]
    assert view["metrics"]["sweep"]["config"] == {"learning_rate": 3e-3}

    version = registry_at(ray_settings.storage.database_url).get_version(view["adapter_version_id"])
    assert version.config["learning_rate"] == 3e-3 and version.config["sweep"]["sweep_id"] == job_id
    assert version.config["sweep"]["config"] == {"learning_rate": 3e-3} and version.config["sweep"]["trials"] == 2
    assert not list(Path(ray_settings.storage.checkpoint_uri).glob(f"*{job_id}*"))  # every trial's files removed

    # The trial table also streamed over the WebSocket (replayed from the start of the event log).
    with connect(api_url.replace("http", "ws") + f"/api/training/ws?after=0&job_id={job_id}", open_timeout=30) as ws:
        def trial_table():
            e = json.loads(ws.recv(timeout=30))
            return e["data"]["trials"] if e["type"] == "metrics_update" and e["data"].get("kind") == "trial" else None
        assert {t["trial_id"] for t in poll(trial_table, "no trial event", 60, 0)} <= {
            t["trial_id"] for t in trials.values()}

    recipe = client.get("/api/training/recipes/sweeplaw").json()
    assert recipe["recipe"]["initial"]["learning_rate"] == 3e-3 and recipe["source"] == f"sweep {job_id}"
    nxt = client.post("/api/training/jobs", json={"name": "sweeplaw", "data_paths": [data], "epochs": 1})
    done = finished(client, nxt.json()["job_id"])
    assert done["status"] == "COMPLETED", done["error"]
    assert registry_at(ray_settings.storage.database_url).get_version(done["adapter_version_id"]).config["learning_rate"] == 3e-3


@pytest.mark.timeout(600)
def test_cancelling_a_sweep_stops_every_trial_and_frees_the_cluster(ray_cluster, client, tmp_path):
    from ray.util.state import list_actors

    def training_actors():
        return [a for a in list_actors(address=ray_cluster.get_runtime_context().gcs_address, limit=1000,
                                       filters=[("state", "=", "ALIVE")], raise_on_missing_output=False)
                if a.class_name in ("TrainController", "RayTrainWorker") or "ImplicitFunc" in (a.class_name or "")]

    earlier = {a.actor_id for a in training_actors()}  # none, unless an earlier test left a run behind
    free_before = ray_cluster.available_resources().get("CPU", 0)
    data = write(tmp_path / "long.jsonl", records()[:80])
    r = client.post("/api/training/jobs", json={
        "name": "sweepstop", "data_paths": [data], "epochs": 200,
        "sweep": {"space": {"learning_rate": {"min": 1e-4, "max": 1e-2, "log": True}}, "trials": 4,
                  "max_concurrent_trials": 2, "early_stopping": False}})
    job_id = r.json()["job_id"]

    def started():
        view = client.get(f"/api/training/jobs/{job_id}").json()
        assert view["status"] in ("QUEUED", "RUNNING"), view
        trials = view["metrics"].get("trials") or []
        return [t for t in trials if t["status"] == "running" and t["evaluations"] >= 1]
    poll(started, "no trial reached its first evaluation", 300, 0.5)
    assert any(a.class_name == "RayTrainWorker" for a in training_actors())

    assert client.delete(f"/api/training/jobs/{job_id}").json()["status"] == "CANCELLED"
    poll(lambda: {a.actor_id for a in training_actors()} <= earlier, "trial actors still alive after cancel", 120, 0.5)
    # Ray Train's placement-group cleaner removes the killed runs' worker bundles (it finds them dead through the
    # State API, which must resolve this cluster: one live cluster on the machine, as in CI).
    poll(lambda: ray_cluster.available_resources().get("CPU", 0) >= free_before - 1e-6,
         "the sweep's CPUs were not given back", 120, 0.5)
    assert finished(client, job_id)["status"] == "CANCELLED"


@pytest.fixture(scope="module")
def tuning_app(ray_cluster, api_url, ray_settings, base_model, tmp_path_factory):
    """An app of its own whose learning loop uses too small a continuous learning rate (3e-5 on the tiny model, whose
    recipe is 2e-3) and self-tunes after two "no improvement" rejections."""
    from clara_ray.config import load_settings

    root = tmp_path_factory.mktemp("selftune")
    namespace = f"{ray_settings.ray.namespace}-selftune"
    settings = load_settings(
        storage={"data_dir": root}, ray={"num_cpus": 2, "namespace": namespace},
        model={"cache_dir": str(ray_settings.model_cache_dir)}, router={"use_embeddings": False},
        training={"max_concurrent_jobs": 1, "epochs": 1, "data_roots": ray_settings.training.data_roots},
        learning={"min_batch_size": 1000, "train_interval_seconds": 3600, "check_interval_seconds": 0.5,
                  "learning_rate": 3e-5, "self_tune_trials": 3, "self_tune_after_rejections": 2,
                  "min_relevance": None, "replay_fraction": 0.0})
    deploy_own_app(settings, "selftune", "/selftune")
    with httpx.Client(base_url=api_url + "/selftune", timeout=120) as c:
        poll(lambda: c.get("/health").status_code == 200, "the self-tuning app did not come up", 120, 0.5)
        yield c, settings
    remove_own_app("selftune", namespace)


@pytest.mark.timeout(900)
def test_the_loop_tunes_its_own_recipe_after_no_improvement_and_promotes(tuning_app, tmp_path):
    client, settings = tuning_app
    rows = records()
    job = client.post("/api/training/jobs", json={"name": "tuned", "data_paths": [write(tmp_path / "a.jsonl",
                                                  rows[:170])], "epochs": 1, "learning_rate": 3e-3,
                                                  "domain": "baurecht", "activate": "always"})
    assert finished(client, job.json()["job_id"])["status"] == "COMPLETED"

    def cycle(batch):
        items = [{"prompt": r["prompt"], "response": r["response"], "rating": 1.0, "adapter": "tuned"} for r in batch]
        assert client.post("/api/feedback/batch", json={"items": items}).status_code == 201
        known = {c["cycle_id"] for c in client.get("/api/learning/cycles", params={"adapter": "tuned"}).json()["items"]}
        assert client.post("/api/learning/trigger", json={"adapter": "tuned"}).status_code == 202
        return next_decided_cycle(client, "tuned", known)

    first, second = cycle(rows[170:195]), cycle(rows[195:220])
    for c in (first, second):
        assert c["status"] == "rejected" and "no_improvement" in {f["code"] for f in c["failed_criteria"]}, c
        assert c["recipe"]["source"] == "configuration" and c["recipe"]["learning_rate"] == 3e-5
    third = cycle(rows[220:250])
    assert third["recipe"]["source"] == "self-tuning sweep" and third["recipe"]["trials"] == 3, third
    assert third["status"] == "promoted", third["reason"]
    assert third["recipe"]["learning_rate"] > 3e-5  # the sweep found a step that improves
    recipe = client.get("/api/training/recipes/tuned").json()
    assert recipe["recipe"]["continuous"]["learning_rate"] == third["recipe"]["learning_rate"]
