"""The whole loop on a Ray cluster of two nodes (two `ray start` processes on this machine) with no shared local disk:
serving pinned to the head by Serve's `ray_actor_options.resources`, training and evaluation pinned to the worker
node by `training.worker_resources`; the database on PostgreSQL; input data, adapters, Ray Train checkpoints and the
cycles' training files (`learning.data_uri`) on an S3 API (moto), reached through the nodes' AWS environment. Each
node has its own CLARA_STORAGE__DATA_DIR (the app's settings take the building node's) and no adapter, checkpoint or
cycle file lands in either. The nodes read the read-only base model from one folder, as an image would carry it."""

from __future__ import annotations

import json
import subprocess

import fsspec
import httpx
import pytest

from tests.ray.cluster_procs import BIN, free_port, node_env, start_node
from tests.ray.loop_checks import baurecht_records, next_decided_cycle, registry_at, served_by
from tests.s3_server import s3_server
from tests.waiting import poll

pytestmark = [pytest.mark.ray]
BUCKET, ALIAS, APP = "clara-two-node", "twonode", "clara"
TRAINER, HEAD = {"trainer": 4}, {"head": 8}  # the nodes' custom resources

# The Ray tasks that train (by the job's `runner`) and evaluate a cycle's candidate (on an idle warm trainer, else
# a task of its own: actors/learning_buffer.py).
TRAINS = {"ray_train": "RayTrainWorker.run_train_fn", "warm": "WarmTrainerActor.run"}
EVALUATES = ("WarmTrainerActor.try_evaluate", "_evaluate")


def records():
    return baurecht_records()


@pytest.fixture(scope="module")
def s3():
    """A real S3 API (moto's server mode) with one bucket: (fsspec options, filesystem)."""
    with s3_server(BUCKET) as options:
        yield options, fsspec.filesystem("s3", **options, skip_instance_cache=True)


@pytest.fixture
def cluster(tmp_path, s3, pg_url, ray_settings, base_model):
    """(head node, data dirs, database url): a head and a worker node, each with its own data_dir and the S3 endpoint
    and keys in its environment (the usual AWS variables: s3fs for the adapter store and pyarrow for Ray Train's
    checkpoints both read them). Both nodes stop in the finalizer, also when the test fails, before the database is
    dropped."""
    options, _ = s3
    common = dict(CLARA_CONFIG=str(tmp_path / "none.yaml"), CLARA_MODEL__CACHE_DIR=str(ray_settings.model_cache_dir),
                  AWS_ENDPOINT_URL_S3=options["endpoint_url"], AWS_ACCESS_KEY_ID=options["key"],
                  AWS_SECRET_ACCESS_KEY=options["secret"], AWS_DEFAULT_REGION="us-east-1")
    dirs = {"head": tmp_path / "head-data", "worker": tmp_path / "worker-data"}
    nodes = []
    try:
        head = start_node(tmp_path / "head.log", node_env(CLARA_STORAGE__DATA_DIR=str(dirs["head"]), **common),
                          num_cpus=2, resources=HEAD)
        nodes.append(head)
        poll(lambda: alive_nodes(head.dashboard), f"the head did not come up: {head.log}", 90, 0.5)
        worker = start_node(tmp_path / "worker.log", node_env(CLARA_STORAGE__DATA_DIR=str(dirs["worker"]), **common),
                            num_cpus=2, head_address=head.address, resources=TRAINER)
        nodes.append(worker)
        poll(lambda: len(alive_nodes(head.dashboard)) == 2, f"the worker node did not join: {worker.log}", 90, 0.5)
        yield head, dirs, pg_url
    finally:
        for node in reversed(nodes):
            node.stop()


def alive_nodes(dashboard: str) -> list:
    from ray.util.state import list_nodes

    try:
        return list_nodes(address=dashboard, filters=[("state", "=", "ALIVE")], raise_on_missing_output=False)
    except Exception:  # noqa: BLE001 - the dashboard is still starting
        return []


def node_with(dashboard: str, resource: str) -> str:
    (node,) = [n.node_id for n in alive_nodes(dashboard) if resource in (n.resources_total or {})]
    return node


def actor_nodes(dashboard: str, class_prefix: str) -> set[str]:
    """The nodes every actor (alive or finished) whose class name starts with `class_prefix` ran on."""
    from ray.util.state import list_actors

    return {a.node_id for a in list_actors(address=dashboard, limit=10000, raise_on_missing_output=False)
            if a.class_name.startswith(class_prefix)}


def deploy(head, settings: dict, port: int, tmp_path) -> str:
    """`serve deploy` of the application serve_config.yaml names, both deployments pinned to the head by its custom
    resource; returns the head proxy's URL."""
    pinned = {"resources": {"head": 1}}
    config = {
        "proxy_location": "HeadOnly",  # one HTTP proxy: both nodes share this machine's ports
        "http_options": {"host": "127.0.0.1", "port": port},
        "applications": [{
            "name": APP, "route_prefix": "/", "import_path": "deployments.app:build", "args": settings,
            "deployments": [
                {"name": "ClaraApi", "num_replicas": 1, "ray_actor_options": {"num_cpus": 0.1, **pinned}},
                {"name": "LoraLLM", "num_replicas": 1, "ray_actor_options": {"num_cpus": 0.5, **pinned}}]}]}
    path = tmp_path / "serve_config.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    out = subprocess.run([str(BIN / "serve"), "deploy", str(path), "--address", head.dashboard],
                         env=node_env(), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return f"http://127.0.0.1:{port}"


@pytest.mark.timeout(600)
def test_the_loop_on_two_nodes_without_shared_local_disk(cluster, s3, tmp_path):
    head, dirs, pg_url = cluster
    _, fs = s3
    trainer_node, head_node = node_with(head.dashboard, "trainer"), node_with(head.dashboard, "head")
    fs.pipe(f"{BUCKET}/data/initial.jsonl", "\n".join(
        json.dumps(r, ensure_ascii=False) for r in records()[:60]).encode())
    settings = {  # the rest (data_dir, model cache) from the environment of the node that builds the app
        "storage": {"database_url": pg_url, "adapter_store_uri": f"s3://{BUCKET}/adapters",
                    "checkpoint_uri": f"s3://{BUCKET}/checkpoints"},
        "ray": {"namespace": f"clara-two-node-{tmp_path.name}"}, "router": {"use_embeddings": False},
        # A warm trainer too: jobs on remote data (the initial one, and the cycle's on learning.data_uri) take Ray
        # Train; the cycle's evaluation goes to the warm trainer once it holds its base, else to a task of its own.
        "training": {"worker_resources": {"trainer": 1}, "warm_pool_size": 1, "max_concurrent_jobs": 1, "epochs": 1,
                     "data_roots": [f"s3://{BUCKET}/data"]},
        "learning": {"min_batch_size": 1000, "train_interval_seconds": 3600, "check_interval_seconds": 0.5,
                     "min_improvement": 0.0, "max_regression": 0.99, "max_kl": 100.0, "min_relevance": None,
                     "replay_fraction": 0.0, "eval_holdout_fraction": 0.25,  # the gate is not what this tests
                     "data_uri": f"s3://{BUCKET}/learning"}}
    url = deploy(head, settings, free_port(), tmp_path)
    with httpx.Client(base_url=url, timeout=120) as client:
        poll(lambda: _answers(client, "/health"), "the app did not come up on the head", 180, 0.5)
        job = client.post("/api/training/jobs", json={
            "name": ALIAS, "data_paths": [f"s3://{BUCKET}/data/initial.jsonl"], "domain": "baurecht",
            "activate": "always"})
        assert job.status_code == 201, job.text

        def finished():
            v = client.get(f"/api/training/jobs/{job.json()['job_id']}").json()
            return v if v["status"] in ("COMPLETED", "FAILED", "CANCELLED") else None

        done = poll(finished, "the training job did not finish", 300, 1.0)
        assert done["status"] == "COMPLETED", done["error"]
        assert done["metrics"]["runner"] == "ray_train"
        assert actor_nodes(head.dashboard, "RayTrainWorker") == {trainer_node}  # pinned by worker_resources
        uri = registry_at(pg_url).resolve(f"{ALIAS}@v1").uri
        assert uri.startswith(f"s3://{BUCKET}/adapters/{ALIAS}/"), uri
        assert fs.exists(uri + "/adapter_model.safetensors")
        assert fs.ls(f"{BUCKET}/checkpoints")  # Ray Train's checkpoints went to the bucket, not a node's disk
        served_by(client, ALIAS, f"{ALIAS}@v1")
        assert actor_nodes(head.dashboard, f"ServeReplica:{APP}:") == {head_node}

        items = [{"prompt": r["prompt"], "response": r["response"], "rating": 1.0, "adapter": ALIAS}
                 for r in records()[60:140]]
        assert client.post("/api/feedback/batch", json={"items": items}).status_code == 201
        assert client.post("/api/learning/trigger", json={"adapter": ALIAS}).status_code == 202

        cycle = next_decided_cycle(client, ALIAS, timeout=300)
        assert cycle["status"] == "promoted", cycle["reason"]
        assert registry_at(pg_url).resolve(f"{ALIAS}@v2").uri.startswith(f"s3://{BUCKET}/adapters/")
        served_by(client, ALIAS, f"{ALIAS}@v2")  # the head's replica, after the revision hub's push
        assert fs.exists(f"{BUCKET}/learning/{cycle['cycle_id']}.jsonl")  # the cycle's training file
        runner = client.get(f"/api/training/jobs/{cycle['job_id']}").json()["metrics"]["runner"]
        ran = task_nodes(head.dashboard)
        assert ran[TRAINS[runner]] == {trainer_node}, (runner, ran)  # the cycle's job, whichever path it took
        assert set().union(*(ran.get(name, set()) for name in EVALUATES)) == {trainer_node}, ran
        assert actor_nodes(head.dashboard, "RayTrainWorker") == actor_nodes(head.dashboard, "WarmTrainer") \
            == {trainer_node}
    for data_dir in dirs.values():  # nothing the other node reads lies on a node's own disk
        assert not any((data_dir / d).exists() for d in ("adapters", "checkpoints", "learning"))


def task_nodes(dashboard: str) -> dict[str, set[str]]:
    """Task name -> the nodes its runs were on."""
    from ray.util.state import list_tasks

    out: dict[str, set[str]] = {}
    for task in list_tasks(address=dashboard, limit=10000, raise_on_missing_output=False):
        if task.node_id:
            out.setdefault(task.name, set()).add(task.node_id)
    return out


def _answers(client, route: str) -> bool:
    try:
        return client.get(route).status_code == 200
    except httpx.HTTPError:
        return False
