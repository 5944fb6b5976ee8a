"""More real Ray training: continuous from a version, 2-worker DDP, resume after a worker is killed, the jobs.train CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clara_ray.resources import qa_path
from tests.ray.test_training_api import job, wait_status

pytestmark = [pytest.mark.ray]
REPO = Path(__file__).resolve().parents[2]


def registry(settings):
    from clara_ray.adapters.registry import AdapterRegistry
    from clara_ray.db.engine import Database

    return AdapterRegistry(Database(settings.storage.database_url))


@pytest.mark.timeout(400)
def test_continuous_job_trains_from_active_version(client, ray_settings):
    first = client.post("/api/training/jobs", json=job("bau-cont", max_steps=8)).json()
    assert wait_status(client, first["job_id"], {"COMPLETED", "FAILED"})["status"] == "COMPLETED"
    cont = client.post("/api/training/jobs", json=job("bau-cont", trainer_type="CONTINUOUS", max_steps=4,
                                                      learning_rate=1e-3, activate="never")).json()
    v = wait_status(client, cont["job_id"], {"COMPLETED", "FAILED"})
    assert v["status"] == "COMPLETED", v["error"]
    reg = registry(ray_settings)
    parent, child = reg.resolve("bau-cont@v1"), reg.resolve("bau-cont@v2")
    assert child.parent_id == parent.id and child.trainer_type == "CONTINUOUS" and child.status == "candidate"
    assert reg.resolve("bau-cont").id == parent.id  # activate=never: the alias still serves v1
    # It really started from v1: its loss before training is v1's, far below the base model's.
    assert v["metrics"]["ppl_before"] == pytest.approx(parent.metrics["ppl_after"], rel=0.02)


@pytest.mark.timeout(400)
def test_two_worker_ddp_job(client):
    r = client.post("/api/training/jobs", json=job("bau-ddp", num_workers=2, max_steps=6))
    v = wait_status(client, r.json()["job_id"], {"COMPLETED", "FAILED"})
    assert v["status"] == "COMPLETED", v["error"]
    assert v["metrics"]["world_size"] == 2 and v["metrics"]["ppl_after"] < v["metrics"]["ppl_before"]


@pytest.mark.timeout(500)
def test_killed_worker_resumes_from_checkpoint(client, api_url):
    from websockets.sync.client import connect

    with connect(api_url.replace("http", "ws") + "/api/training/ws", open_timeout=30) as ws:
        r = client.post("/api/training/jobs", json=job("bau-resume", max_steps=40, batch_size=2,
                                                       checkpoint_every_steps=5))
        job_id, pid, killed_at, resumed = r.json()["job_id"], None, None, None
        deadline = time.time() + 400
        while time.time() < deadline:
            e = json.loads(ws.recv(timeout=120))
            d = e.get("data", {})
            if d.get("job_id") != job_id:
                continue
            if d.get("pid") and pid is None:
                pid = d["pid"]
            if d.get("kind") == "step" and d["step"] >= 12 and killed_at is None and pid:
                os.kill(pid, signal.SIGKILL)  # the Train worker dies mid-run
                killed_at = d["step"]
            if d.get("kind") == "resumed":
                resumed = d["step"]
            if e["type"] == "job_update" and d["status"] in ("COMPLETED", "FAILED"):
                break
    assert killed_at is not None, "never saw the worker's pid"
    assert d["status"] == "COMPLETED", d.get("error")
    assert resumed is not None and 5 <= resumed <= killed_at and resumed % 5 == 0  # from the latest checkpoint
    assert d["step"] == 40


@pytest.mark.timeout(400)
def test_jobs_train_cli_runs_a_job_on_the_cluster(ray_cluster, ray_settings, tmp_path):
    env = {**os.environ, "RAY_ADDRESS": ray_cluster.get_runtime_context().gcs_address,
           "CLARA_STORAGE__DATA_DIR": str(ray_settings.storage.data_dir), "CLARA_RAY__NAMESPACE": ray_settings.ray.namespace}
    out = subprocess.run([sys.executable, "-m", "jobs.train", "--config", "configs/train/lora.yaml",
                          "--set", "name=bau-cli", "--set", "max_steps=5", "--set", f"data_paths=['{qa_path()}']",
                          "--json"], cwd=REPO, env=env, capture_output=True, text=True, timeout=350)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["adapter"] == "bau-cli@v1" and Path(result["uri"], "adapter_config.json").is_file()
    bad = subprocess.run([sys.executable, "-m", "jobs.train", "--config", "configs/train/lora.yaml", "--set", "epochs=0"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "epochs" in bad.stderr and "Traceback" not in bad.stderr
