"""Cluster files: YAML parses, Serve configs pass Serve's schema, the launcher passes Ray's, the RayJob runs."""

from __future__ import annotations

import copy
import importlib
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "cluster"
KUBERAY = CLUSTER / "kuberay"


def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def _one(path: Path, kind: str) -> dict:
    docs = [d for d in _docs(path) if d.get("kind") == kind]
    assert len(docs) == 1, f"{path.name}: expected one {kind}"
    return docs[0]


@pytest.mark.parametrize("path", sorted([*CLUSTER.rglob("*.yaml"), ROOT / "serve_config.yaml"]), ids=lambda p: p.name)
def test_yaml_parses(path):
    assert _docs(path), f"{path} is empty"


def test_serve_config_passes_serve_schema():
    from ray.serve.schema import ServeDeploySchema

    schema = ServeDeploySchema.model_validate(yaml.safe_load((ROOT / "serve_config.yaml").read_text()))
    for app in schema.applications:  # Ray's schema accepts unknown keys; at least the import path must resolve
        module, _, attr = app.import_path.partition(":")
        assert callable(getattr(importlib.import_module(module), attr)), app.import_path


def test_rayservice_serve_config_passes_schema_and_matches_serve_config():
    from ray.serve.schema import ServeDeploySchema

    svc = _one(KUBERAY / "rayservice.yaml", "RayService")
    v2 = yaml.safe_load(svc["spec"]["serveConfigV2"])
    ServeDeploySchema.model_validate(v2)
    local = yaml.safe_load((ROOT / "serve_config.yaml").read_text())
    assert v2["applications"] == local["applications"], "run: python cluster/sync_serve_config.py"
    assert v2["http_options"]["host"] == "0.0.0.0" and v2["http_options"]["port"] == 8000
    check = subprocess.run([sys.executable, str(CLUSTER / "sync_serve_config.py"), "--check"], capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 0, check.stderr


def _cluster_specs():
    yield "RayCluster", _one(KUBERAY / "raycluster.yaml", "RayCluster")["spec"]
    yield "RayService", _one(KUBERAY / "rayservice.yaml", "RayService")["spec"]["rayClusterConfig"]
    yield "RayJob", _one(KUBERAY / "rayjob.yaml", "RayJob")["spec"]["rayClusterSpec"]


@pytest.mark.parametrize("kind, spec", list(_cluster_specs()), ids=lambda x: x if isinstance(x, str) else "")
def test_kuberay_clusters_cpu_head_gpu_workers_token_auth(kind, spec):
    assert spec["authOptions"] == {"mode": "token"}
    assert tuple(map(int, spec["rayVersion"].split("."))) >= (2, 52, 0)  # token auth needs Ray >= 2.52
    head = spec["headGroupSpec"]
    assert head["rayStartParams"]["num-gpus"] == "0"
    for c in head["template"]["spec"]["containers"]:
        assert "nvidia.com/gpu" not in str(c.get("resources", {}))
    gpu = [g for g in spec["workerGroupSpecs"] if "nvidia.com/gpu" in str(g["template"]["spec"]["containers"])]
    assert gpu, f"{kind}: no GPU worker group"
    for group in spec["workerGroupSpecs"]:
        assert all(isinstance(v, str) for v in group["rayStartParams"].values())  # KubeRay wants strings
    if kind != "RayJob":
        assert spec["enableInTreeAutoscaling"] is True
        assert all(g["minReplicas"] == 0 for g in gpu)


def test_rayjob_entrypoint_module_exists_and_help_runs():
    job = _one(KUBERAY / "rayjob.yaml", "RayJob")
    argv = shlex.split(job["spec"]["entrypoint"])
    assert argv[:3] == ["python", "-m", "jobs.train"]
    assert (ROOT / "jobs" / "train.py").is_file()
    config = argv[argv.index("--config") + 1]
    assert (ROOT / config).is_file(), config
    out = subprocess.run([sys.executable, "-m", "jobs.train", "--help"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and "--config" in out.stdout, out.stderr


def test_launcher_config_passes_rays_schema_with_cpu_head_and_gpu_autoscaling():
    from ray.autoscaler._private.util import prepare_config, validate_config

    cfg = yaml.safe_load((CLUSTER / "ray-cluster.yaml").read_text())
    validate_config(prepare_config(copy.deepcopy(cfg)))
    types = cfg["available_node_types"]
    assert types[cfg["head_node_type"]]["resources"]["GPU"] == 0
    assert "--num-gpus=0" in " ".join(cfg["head_start_ray_commands"])
    assert types["gpu_worker"]["min_workers"] == 0 and types["gpu_worker"]["max_workers"] > 0
    assert all("RAY_AUTH_MODE=token" in c for c in cfg["head_start_ray_commands"] + cfg["worker_start_ray_commands"]
               if "ray start" in c)


def test_grafana_dashboard_queries_existing_metrics():
    import json

    from clara_ray.observability.metrics import SPECS

    dash = json.loads((ROOT / "configs" / "grafana" / "clara-dashboard.json").read_text())
    exprs = " ".join(t["expr"] for p in dash["panels"] for t in p.get("targets", []))
    for _kind, name, *_ in SPECS.values():
        assert f"ray_{name}" in exprs, f"no panel for {name}"
    titles = {p["title"] for p in dash["panels"]}
    assert {"Training jobs per day", "Active training jobs", "Learning buffer size",
            "P95 training duration"} <= titles
