"""`ray job submit` exactly as the README says, against a `ray start --head` cluster: a training job SUCCEEDS, and
`ray job stop` on a running one ends it STOPPED, its Train workers gone and its CLARA job row CANCELLED."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from clara_ray.ray_runtime import REPO_ROOT
from tests.ray.cluster_procs import BIN, node_env, start_node
from tests.waiting import poll

pytestmark = [pytest.mark.ray]


@pytest.fixture(scope="module")
def head(tmp_path_factory, ray_settings, base_model):
    """A `ray start --head` cluster of its own (tests/ray/cluster_procs.py: free ports), started like a user would
    from the activated environment, with CLARA's settings in its environment; stopped with its processes."""
    tmp = tmp_path_factory.mktemp("head")
    env = node_env(CLARA_CONFIG=str(tmp / "none.yaml"), CLARA_STORAGE__DATA_DIR=str(tmp / "data"),
                   CLARA_MODEL__CACHE_DIR=str(ray_settings.model_cache_dir),  # the tiny model the session built
                   CLARA_RAY__NAMESPACE="clara-job-submit")
    node = start_node(tmp / "ray-start.log", env, num_cpus=2)
    address = node.dashboard

    def up() -> bool:
        return subprocess.run([str(BIN / "ray"), "job", "list", "--address", address], env=env,
                              capture_output=True).returncode == 0

    try:
        poll(up, f"ray start --head did not come up: {node.log_tail()}", 90)
        yield address, env, tmp / "data"
    finally:
        node.stop()


def ray_cli(env, *args: str, check=True) -> subprocess.CompletedProcess:
    out = subprocess.run([str(BIN / "ray"), *args], env=env, capture_output=True, text=True, cwd=REPO_ROOT,
                         timeout=400)
    assert not check or out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out


def submit(address, env, *args: str) -> subprocess.CompletedProcess:
    """`ray job submit`, again while the fresh head's job agent is still starting (Ray answers "No available
    agent to submit job, please try again later" for a few seconds after the dashboard is up)."""
    result: list[subprocess.CompletedProcess] = []

    def accepted() -> bool:
        result[:] = [ray_cli(env, "job", "submit", "--address", address, *args, check=False)]
        return "No available agent" not in result[0].stderr

    poll(accepted, "the head's job agent never accepted a job", 90)
    out = result[0]
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out


def job_status(address, job: str) -> str:
    """The job's state as `ray job status` shows it (read through the same job-submission API)."""
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(address).get_job_status(job).value


def clara_jobs(data_dir: Path) -> list:
    from clara_ray.db.engine import Database
    from clara_ray.db.tables import Job
    from sqlalchemy import select

    with Database(f"sqlite:///{data_dir / 'clara.db'}").session() as s:
        return list(s.scalars(select(Job).order_by(Job.created_at)))


SUBMIT = ["--working-dir", ".", "--", "python", "-m", "jobs.train", "--config", "configs/train/lora.yaml",
          "--set", "epochs=1"]


@pytest.mark.timeout(600)
def test_ray_job_submit_trains_an_adapter(head):
    address, env, data_dir = head
    out = submit(address, env, "--submission-id", "clara-train-1", *SUBMIT)
    assert job_status(address, "clara-train-1") == "SUCCEEDED", out.stdout[-3000:]
    assert "validation perplexity" in out.stdout  # the entrypoint's own summary, followed by submit
    (job,) = clara_jobs(data_dir)
    assert (job.status, job.created_by) == ("COMPLETED", "jobs.train") and job.adapter_version_id


@pytest.mark.timeout(600)
def test_ray_job_stop_cancels_the_run_and_its_workers(head):
    from ray.util.state import list_actors

    address, env, data_dir = head
    submit(address, env, "--submission-id", "clara-train-2", "--no-wait", *SUBMIT[:-1], "epochs=50")

    def training_workers() -> list:
        return [a for a in list_actors(address=address, filters=[("state", "=", "ALIVE")], raise_on_missing_output=False)
                if "Train" in a.class_name]

    poll(lambda: training_workers() and clara_jobs(data_dir)[-1].status == "RUNNING",
         "the submitted job never reached its Ray Train workers", 300)
    ray_cli(env, "job", "stop", "--address", address, "clara-train-2")
    poll(lambda: job_status(address, "clara-train-2") == "STOPPED", "ray job stop did not stop the job", 60)
    poll(lambda: not training_workers(), "the stopped job's Train workers are still alive", 60)
    job = clara_jobs(data_dir)[-1]
    assert job.status == "CANCELLED" and "ray job stop" in job.error, (job.status, job.error)
