"""How drivers connect to Ray: a job's runtime env is left alone, null starts a fresh local cluster, a named cluster
must answer (fast, with what to do)."""

from __future__ import annotations

import json
import socket
from types import SimpleNamespace

import pytest

from clara_ray import ray_runtime
from clara_ray.ray_runtime import (JOB_CONFIG_ENV, RayClusterUnavailable, check_cluster_answers, driver_runtime_env,
                                   init_ray)


def test_outside_a_job_the_driver_ships_the_repo(monkeypatch):
    monkeypatch.delenv(JOB_CONFIG_ENV, raising=False)
    assert driver_runtime_env()["working_dir"] == str(ray_runtime.REPO_ROOT)


def test_under_ray_job_submit_the_job_runtime_env_is_left_alone(monkeypatch):
    monkeypatch.setenv(JOB_CONFIG_ENV, json.dumps({"runtime_env": {"working_dir": "gcs://_ray_pkg_x.zip"}}))
    env = driver_runtime_env()
    assert "working_dir" not in env and "excludes" not in env  # Ray refuses to merge a second working_dir
    assert env["env_vars"]["HF_HUB_OFFLINE"] == "1"  # a key the job did not set still travels
    monkeypatch.setenv(JOB_CONFIG_ENV, json.dumps({"runtime_env": {"working_dir": "x", "env_vars": {"A": "1"}}}))
    assert driver_runtime_env() is None


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens there


def test_a_named_cluster_that_does_not_answer_fails_fast_with_what_to_do(monkeypatch, tmp_path):
    port = _closed_port()
    with pytest.raises(RayClusterUnavailable, match=f"no Ray cluster answers at 127.0.0.1:{port}.*ray start --head"):
        check_cluster_answers(f"127.0.0.1:{port}", timeout=1)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(ray_runtime, "CURRENT_CLUSTER_FILE", tmp_path / "ray_current_cluster")
    with pytest.raises(RayClusterUnavailable, match="no running Ray cluster is recorded"):
        check_cluster_answers("auto")
    (tmp_path / "ray_current_cluster").write_text(f"127.0.0.1:{port}\n")  # what a killed `ray start` leaves
    with pytest.raises(RayClusterUnavailable, match=f"127.0.0.1:{port}"):
        check_cluster_answers("auto", timeout=1)


def test_null_address_starts_a_fresh_local_cluster(monkeypatch, settings):
    import ray

    seen = {}
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.delenv(JOB_CONFIG_ENV, raising=False)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kw: seen.update(kw) or SimpleNamespace(
        address_info={"gcs_address": "127.0.0.1:4242"}))
    monkeypatch.setattr(ray._private.utils, "write_ray_address", lambda address: seen.update(current=address))
    init_ray(settings)
    assert seen["address"] == "local"  # never the dead cluster /tmp/ray/ray_current_cluster may name
    assert seen["current"] == "127.0.0.1:4242"  # and the new one is the machine's current cluster from now on
    assert seen["namespace"] == settings.ray.namespace and "working_dir" in seen["runtime_env"]
