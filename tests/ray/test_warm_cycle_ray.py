"""A warm cycle on a real cluster: the job manager's warm trainer (one actor holding the base) trains the alias, then
the cycle's CONTINUOUS job and its evaluation run on it, and the decision reaches serving."""

from __future__ import annotations

import json
import time

import pytest

from tests.ray.test_learning_ray import cycle_ids, feedback, queued, records, served_as, wait_new_cycle
from tests.ray.test_training_api import wait_status
from tests.waiting import poll

pytestmark = [pytest.mark.ray]
ALIAS = "warmloop"


def warm_actor(ray_settings):
    import ray

    from actors.warm_trainer import WARM_PREFIX

    def find():
        try:
            return ray.get_actor(WARM_PREFIX + "0", namespace=ray_settings.ray.namespace)
        except ValueError:
            return None

    return poll(find, "the job manager created no warm trainer", timeout=60)


def idle(client) -> bool:
    """No job runs or waits and no cycle is open (earlier tests of the session may have left some in flight): an
    eligible job then finds the one warm trainer free instead of falling back to Ray Train."""
    jobs = client.get("/api/training/jobs", params={"status": ["QUEUED", "RUNNING"]}).json()["total"]
    cycles = client.get("/api/learning/cycles").json()["items"]
    return jobs == 0 and not any(c["status"] == "running" for c in cycles)


@pytest.mark.timeout(600)
def test_warm_cycle_trains_evaluates_and_promotes_on_the_warm_trainer(client, ray_cluster, ray_settings,
                                                                      tmp_path_factory):
    import ray

    assert ray_settings.training.warm_pool_size == 1  # the default
    actor = warm_actor(ray_settings)
    ray.get(actor.ready.remote(), timeout=120)  # its base is loaded
    poll(lambda: idle(client), "jobs or cycles of earlier tests still running", timeout=300, interval=0.5)
    start = ray.get(actor.ready.remote(), timeout=60)

    data = tmp_path_factory.mktemp("warm") / "initial.jsonl"
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records()[:170]) + "\n", encoding="utf-8")
    t_submit = time.time()
    r = client.post("/api/training/jobs", json={"name": ALIAS, "data_paths": [str(data)], "epochs": 3,
                                                "learning_rate": 3e-3, "domain": "baurecht", "activate": "always"})
    assert r.status_code == 201, r.text
    job = wait_status(client, r.json()["job_id"], {"COMPLETED", "FAILED"})
    assert job["status"] == "COMPLETED", job["error"]
    m = job["metrics"]
    assert m["runner"] == "warm" and m["world_size"] == 1 and m["ppl_after"] < m["ppl_before"]
    # The manager received the job's progress like a Ray Train job's: steps and the curve.
    assert job["step"] == job["total_steps"] > 0
    points = client.get(f"/api/training/jobs/{job['job_id']}/metrics").json()["points"]
    assert max(p["step"] for p in points) == job["step"]
    fixed = (m["t_first_step"] - m["t_submitted"]) + (m["t_registered"] - m["t_last_step"])
    print(f"\nwarm user job: submit -> registered {m['t_registered'] - t_submit:.2f} s, fixed cost {fixed:.2f} s "
          f"(prepare {m['prepare_seconds']:.2f} s, train {m['train_seconds']:.2f} s)")
    assert fixed < 10

    known = cycle_ids(client, ALIAS)
    res = client.post("/api/feedback/batch", json={"items": feedback(ALIAS, records()[170:210])}).json()
    assert queued(res) >= ray_settings.learning.min_batch_size  # the size trigger fires
    t_trigger = time.time()
    c = wait_new_cycle(client, ALIAS, known, min_samples=queued(res), timeout=300)
    assert c["status"] in ("promoted", "rejected"), c["reason"]
    cycle_job = client.get(f"/api/training/jobs/{c['job_id']}").json()
    assert cycle_job["status"] == "COMPLETED" and cycle_job["metrics"]["runner"] == "warm"
    assert cycle_job["trainer_type"] == "CONTINUOUS"
    # Both jobs trained on the warm trainer and the cycle's evaluation ran there too (no model load elsewhere);
    # ">=": a time-triggered cycle of an earlier test's alias may have used it meanwhile.
    end = ray.get(actor.ready.remote(), timeout=60)
    assert end["jobs_run"] >= start["jobs_run"] + 2 and end["evaluations_run"] >= start["evaluations_run"] + 1
    if c["status"] == "promoted":
        served_as(client, ALIAS, f"{ALIAS}@v2")
    d = c["durations"]
    print(f"warm cycle: trigger -> decided{' and serving' if c['status'] == 'promoted' else ''} "
          f"{time.time() - t_trigger:.1f} s ({c['status']}); "
          + ", ".join(f"{k} {v:.2f} s" for k, v in d.items() if isinstance(v, (int, float))))
