"""Cluster files: YAML parses, Serve configs pass Serve's schema, KubeRay manifests pass KubeRay's CRD schemas (CPU and
GPU), volumes/GCS fault tolerance/GPU placement fit together, the launcher passes Ray's schema, the RayJob runs."""

from __future__ import annotations

import copy
import importlib
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "cluster"
KUBERAY = CLUSTER / "kuberay"
CRDS = ROOT / "tests" / "fixtures" / "kuberay_crds"
SERVE_CONFIGS = [ROOT / "serve_config.yaml", CLUSTER / "serve_config.gpu.yaml"]
RAYSERVICES = {ROOT / "serve_config.yaml": KUBERAY / "rayservice.yaml",
               CLUSTER / "serve_config.gpu.yaml": KUBERAY / "rayservice.gpu.yaml"}
KUBERAY_MANIFESTS = ["raycluster.yaml", "rayservice.yaml", "rayjob.yaml", "raycluster.gpu.yaml", "rayservice.gpu.yaml"]


def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def _one(path: Path, kind: str) -> dict:
    docs = [d for d in _docs(path) if d.get("kind") == kind]
    assert len(docs) == 1, f"{path.name}: expected one {kind}"
    return docs[0]


@pytest.mark.parametrize("path", sorted([*CLUSTER.rglob("*.yaml"), ROOT / "serve_config.yaml"]), ids=lambda p: p.name)
def test_yaml_parses(path):
    assert _docs(path), f"{path} is empty"


@pytest.mark.parametrize("path", SERVE_CONFIGS, ids=lambda p: p.name)
def test_serve_config_passes_serve_schema(path):
    from ray.serve.schema import ServeDeploySchema

    schema = ServeDeploySchema.model_validate(yaml.safe_load(path.read_text()))
    for app in schema.applications:  # Ray's schema accepts unknown keys; at least the import path must resolve
        module, _, attr = app.import_path.partition(":")
        assert callable(getattr(importlib.import_module(module), attr)), app.import_path


@pytest.mark.parametrize("serve_config", SERVE_CONFIGS, ids=lambda p: p.name)
def test_rayservice_serve_config_passes_schema_and_matches_serve_config(serve_config):
    from ray.serve.schema import ServeDeploySchema

    svc = _one(RAYSERVICES[serve_config], "RayService")
    v2 = yaml.safe_load(svc["spec"]["serveConfigV2"])
    ServeDeploySchema.model_validate(v2)
    local = yaml.safe_load(serve_config.read_text())
    assert v2["applications"] == local["applications"], "run: python cluster/sync_serve_config.py"
    assert v2["http_options"]["host"] == "0.0.0.0" and v2["http_options"]["port"] == 8000
    check = subprocess.run([sys.executable, str(CLUSTER / "sync_serve_config.py"), "--check"], capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 0, check.stderr


def _cluster_specs():
    for suffix in ("", ".gpu"):
        yield "RayCluster" + suffix, _one(KUBERAY / f"raycluster{suffix}.yaml", "RayCluster")["spec"]
        yield "RayService" + suffix, _one(KUBERAY / f"rayservice{suffix}.yaml", "RayService")["spec"]["rayClusterConfig"]
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
    if not kind.startswith("RayJob"):
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


# --- KubeRay CRD schemas (tests/fixtures/kuberay_crds, KubeRay v1.5.1) ------------------------------------------------

def _k8s_to_jsonschema(node):
    """A CRD's openAPIV3Schema as plain JSON Schema, strict like `kubectl apply`'s server-side field validation:
    an object with `properties` and neither `additionalProperties` nor `x-kubernetes-preserve-unknown-fields` takes
    no other keys (so a typo fails here instead of being pruned); `x-kubernetes-int-or-string` accepts an int or a
    string; `nullable` accepts null. Other x-kubernetes-* keys (CEL rules, list/map types) are ignored by jsonschema."""
    if isinstance(node, list):
        return [_k8s_to_jsonschema(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: (v if k == "enum" else _k8s_to_jsonschema(v)) for k, v in node.items()}
    if "properties" in node:
        out["properties"] = {name: _k8s_to_jsonschema(sub) for name, sub in node["properties"].items()}
        if "additionalProperties" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    if node.get("x-kubernetes-int-or-string") and "anyOf" not in node:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in node:
        out["type"] = [node["type"], "null"]
    return out


def _crd_validator(kind: str):
    import jsonschema

    crd = json.loads((CRDS / f"ray.io_{kind.lower()}s.json").read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["storage"]]
    schema = _k8s_to_jsonschema(version["schema"]["openAPIV3Schema"])
    schema["properties"]["metadata"] = {"type": "object"}  # ObjectMeta is checked by the API server, not the CRD
    return jsonschema.Draft7Validator(schema), f"{crd['spec']['group']}/{version['name']}"


def _schema_errors(kind: str, doc: dict) -> list[str]:
    validator, api_version = _crd_validator(kind)
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]
    if doc.get("apiVersion") != api_version:
        errors.append(f"apiVersion {doc.get('apiVersion')!r}, the CRD serves {api_version}")
    return errors


@pytest.mark.parametrize("name", KUBERAY_MANIFESTS)
def test_kuberay_manifest_passes_kuberay_crd_schema(name):
    docs = [d for d in _docs(KUBERAY / name) if d.get("kind") in ("RayCluster", "RayService", "RayJob")]
    assert docs, f"{name}: no KubeRay resource"
    for doc in docs:
        assert not _schema_errors(doc["kind"], doc), _schema_errors(doc["kind"], doc)


def test_crd_validation_catches_typos_and_wrong_types():
    doc = _one(KUBERAY / "raycluster.gpu.yaml", "RayCluster")
    typo = copy.deepcopy(doc)
    typo["spec"]["gcsFaultToleranceOptions"]["redisAdress"] = typo["spec"]["gcsFaultToleranceOptions"].pop("redisAddress")
    assert any("redisAdress" in e for e in _schema_errors("RayCluster", typo))
    wrong = copy.deepcopy(doc)
    wrong["spec"]["workerGroupSpecs"][0]["rayStartParams"]["num-gpus"] = 1  # KubeRay wants strings
    assert any("num-gpus" in e for e in _schema_errors("RayCluster", wrong))
    bad_quantity = copy.deepcopy(doc)
    bad_quantity["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] = "16 GB"
    assert any("does not match" in e for e in _schema_errors("RayCluster", bad_quantity))


# --- volumes, corpus and GCS fault tolerance ----------------------------------------------------------------------

def _pod_specs(spec: dict):
    yield "head", spec["headGroupSpec"]["template"]["spec"]
    for group in spec["workerGroupSpecs"]:
        yield group["groupName"], group["template"]["spec"]


def test_configmap_points_at_real_weights_durable_data_and_corpus_servers():
    env = _one(KUBERAY / "config.yaml", "ConfigMap")["data"]
    assert env["CLARA_MODEL__BASE_MODEL"] == "/models/base"   # not the random tiny model
    assert env["CLARA_STORAGE__DATA_DIR"] == "/data" and not env["CLARA_STORAGE__DATA_DIR"].startswith("/tmp")
    assert env["CLARA_STORAGE__ADAPTER_STORE_URI"].startswith("s3://")
    assert env["CLARA_DATASETS__CHROMA_MODE"] == "http" and env["CLARA_DATASETS__GRAPH_BACKEND"] == "neo4j"
    from clara_ray.datasets.settings import DatasetSettings

    DatasetSettings(**{k.removeprefix("CLARA_DATASETS__").lower(): v for k, v in env.items()
                       if k.startswith("CLARA_DATASETS__")})  # the names and values are real settings
    secrets = {d["metadata"]["name"]: d for d in _docs(KUBERAY / "secrets.example.yaml")}["clara-secrets"]["stringData"]
    assert "CLARA_DATASETS__NEO4J_PASSWORD" in secrets and "CLARA_STORAGE__DATABASE_URL" in secrets


@pytest.mark.parametrize("kind, spec", list(_cluster_specs()), ids=lambda x: x if isinstance(x, str) else "")
def test_every_ray_pod_mounts_base_model_read_only_and_shared_data(kind, spec):
    claims = {d["metadata"]["name"]: d for d in _docs(KUBERAY / "storage.yaml")}
    assert {"clara-base-model", "clara-data"} <= set(claims)
    assert all(c["spec"]["accessModes"] == ["ReadWriteMany"] for c in claims.values())  # pods on many nodes
    for group, pod in _pod_specs(spec):
        volumes = {v["name"]: v.get("persistentVolumeClaim", {}) for v in pod["volumes"]}
        mounts = {m["mountPath"]: m for m in pod["containers"][0]["volumeMounts"]}
        assert volumes[mounts["/models/base"]["name"]] == {"claimName": "clara-base-model", "readOnly": True}, group
        assert mounts["/models/base"]["readOnly"] is True, group
        assert volumes[mounts["/data"]["name"]]["claimName"] == "clara-data", group


@pytest.mark.parametrize("kind, spec", [(k, s) for k, s in _cluster_specs() if not k.startswith("RayJob")],
                         ids=lambda x: x if isinstance(x, str) else "")
def test_long_lived_clusters_keep_gcs_state_in_redis(kind, spec):
    ft = spec["gcsFaultToleranceOptions"]
    host, _, port = ft["redisAddress"].partition(":")
    redis = {d["kind"]: d for d in _docs(KUBERAY / "redis.yaml")}
    assert host == redis["Service"]["metadata"]["name"] and int(port) == redis["Service"]["spec"]["ports"][0]["port"]
    ref = ft["redisPassword"]["valueFrom"]["secretKeyRef"]
    secrets = {d["metadata"]["name"]: d for d in _docs(KUBERAY / "secrets.example.yaml")}
    assert ref["key"] in secrets[ref["name"]]["stringData"]
    redis_env = redis["StatefulSet"]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"secretKeyRef": {"name": ref["name"], "key": ref["key"]}} in [e.get("valueFrom") for e in redis_env]
    # KubeRay refuses these next to gcsFaultToleranceOptions (ray-operator validation.go)
    head = spec["headGroupSpec"]
    assert "redis-password" not in head["rayStartParams"]
    assert not {"REDIS_PASSWORD", "RAY_REDIS_ADDRESS"} & {e["name"] for e in head["template"]["spec"]["containers"][0]
                                                          .get("env", [])}


# --- GPU serving: serve config, LLMConfig, placement ----------------------------------------------------------------

def _gpu_app() -> dict:
    (app,) = yaml.safe_load((CLUSTER / "serve_config.gpu.yaml").read_text())["applications"]
    return app


def test_gpu_serve_config_args_load_as_vllm_settings_with_secrets_from_env(monkeypatch):
    from clara_ray.config import load_settings

    url = "postgresql+psycopg://clara:pw@postgres.clara.svc:5432/clara"
    monkeypatch.setenv("CLARA_STORAGE__DATABASE_URL", url)  # what Secret clara-secrets sets on the pods
    settings = load_settings(**_gpu_app()["args"])
    assert settings.serving.engine == "vllm" and settings.model.base_model == "/models/base"
    assert settings.storage.adapter_store_uri.startswith("s3://")
    assert settings.storage.database_url == url  # args leave it to the env
    assert settings.serving.vllm_accelerator_type and settings.serving.vllm_tensor_parallel_size >= 1
    deployments = {d["name"]: d for d in _gpu_app()["deployments"]}
    llm = deployments["LoraLLM"]
    # Ray Serve LLM's placement group reserves the GPU; ray_actor_options here would add to its replica bundle
    assert not {"num_cpus", "num_gpus"} & set(llm.get("ray_actor_options", {}))
    assert llm["autoscaling_config"]["min_replicas"] >= 1 and llm["autoscaling_config"]["max_replicas"] > 1


def test_gpu_serve_config_makes_a_valid_ray_serve_llm_config():
    from ray.llm._internal.serve.core.configs.llm_config import LLMConfig  # ray.serve.llm itself needs vLLM

    from clara_ray.config import load_settings
    from clara_ray.serving.serve_llm import llm_config

    settings = load_settings(**_gpu_app()["args"])
    cfg = LLMConfig.model_validate(llm_config(settings.model.base_model, "base", settings))
    assert cfg.accelerator_type == settings.serving.vllm_accelerator_type
    assert cfg.engine_kwargs["tensor_parallel_size"] == settings.serving.vllm_tensor_parallel_size
    assert cfg.lora_config.dynamic_lora_loading_path == settings.storage.adapter_store_uri.rstrip("/")


@pytest.mark.parametrize("name", ["raycluster.gpu.yaml", "rayservice.gpu.yaml"])
def test_gpu_worker_group_can_host_a_lorallm_replica_from_zero(name):
    """The autoscaler starts a pod only for a placement group that fits what a group declares: compute LoraLLM's
    bundles as Ray Serve LLM does and the group's resources as Ray's KubeRay autoscaler reads them."""
    from ray.autoscaler._private.kuberay.autoscaling_config import _get_ray_resources_from_group_spec
    from ray.llm._internal.serve.core.configs.accelerators import GPUAccelerator

    from clara_ray.config import load_settings

    serving = load_settings(**_gpu_app()["args"]).serving
    bundles = GPUAccelerator().default_bundles(num_devices=serving.vllm_tensor_parallel_size,
                                               accelerator_type_str=serving.vllm_accelerator_type)
    bundles[0]["CPU"] = bundles[0].get("CPU", 0) + 1  # LLMServer's replica actor joins the first bundle (1 CPU)
    need: dict[str, float] = {}
    for bundle in bundles:
        for key, value in bundle.items():
            need[key] = need.get(key, 0) + value
    doc = _docs(KUBERAY / name)[0]
    spec = doc["spec"].get("rayClusterConfig", doc["spec"])
    fits = []
    for group in spec["workerGroupSpecs"]:
        offered = _get_ray_resources_from_group_spec(group, is_head=False)
        if all(offered.get(k, 0) >= v for k, v in need.items()):
            fits.append(group["groupName"])
            limits = group["template"]["spec"]["containers"][0]["resources"]["limits"]
            assert int(limits["nvidia.com/gpu"]) == offered["GPU"]  # Ray's GPUs are the pod's GPUs
            assert group["maxReplicas"] >= 1
    assert fits, f"no worker group offers {need}"


# --- GPU image ------------------------------------------------------------------------------------------------------

def test_gpu_image_keeps_the_base_images_torch_vllm_ray():
    sys.path.insert(0, str(CLUSTER))
    try:
        import image_constraints as ic
    finally:
        sys.path.remove(str(CLUSTER))
    base = "torch==2.11.0+cu128\nvllm==0.29.0\nray==2.60.0\nTransformers==5.20.1\n"
    merged = ic.pins(ic.merge(base, (ROOT / "constraints.txt").read_text()))
    assert merged["torch"][1] == "2.11.0+cu128" and merged["transformers"][1] == "5.20.1"  # the image wins
    assert merged["vllm"][1] == "0.29.0" and merged["ray"][1] == "2.60.0"
    assert merged["peft"] == ic.pins((ROOT / "constraints.txt").read_text())["peft"]  # the rest from constraints.txt
    from importlib.metadata import version

    assert ic.changed(f"pyyaml=={version('pyyaml')}\n", ["PyYAML"]) == []
    assert ic.changed("pyyaml==0.0.1\n", ["pyyaml"]) and ic.changed("", ["pyyaml"])
    dockerfile = (CLUSTER / "Dockerfile.gpu").read_text()
    assert "FROM ${BASE_IMAGE}" in dockerfile and "ARG BASE_IMAGE=rayproject/ray-llm:2.60.0-" in dockerfile
    assert "-c /tmp/constraints.gpu.txt '.[gpu,cloud]'" in dockerfile and "verify" in dockerfile
