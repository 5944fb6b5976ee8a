"""The adapter store on S3 (moto's S3 server on 127.0.0.1): a training job writes its adapter to s3://, an LLM replica
loads it from there, and a learning cycle's candidate goes through the same store to promotion. Own Serve app,
namespace and database; nothing of the adapters is on local disk but the replicas' download cache."""

from __future__ import annotations

import json

import fsspec
import httpx
import pytest

from tests.ray.loop_checks import baurecht_records, next_decided_cycle, registry_at, served_by
from tests.ray.own_app import deploy_own_app, remove_own_app
from tests.s3_server import s3_server
from tests.waiting import poll

pytestmark = [pytest.mark.ray]
APP, PREFIX, ALIAS, BUCKET = "s3", "/s3", "s3law", "clara-adapters"


def records():
    return baurecht_records()


@pytest.fixture(scope="module")
def s3():
    """A real S3 API (moto's server mode) with one bucket: (fsspec options, filesystem)."""
    with s3_server(BUCKET) as options:
        yield options, fsspec.filesystem("s3", **options, skip_instance_cache=True)


@pytest.fixture(scope="module")
def app(ray_cluster, api_url, ray_settings, base_model, s3, tmp_path_factory):
    from clara_ray.config import load_settings

    options, _ = s3
    root = tmp_path_factory.mktemp("s3app")
    namespace = f"{ray_settings.ray.namespace}-s3"
    settings = load_settings(
        storage={"data_dir": root, "adapter_store_uri": f"s3://{BUCKET}/adapters", "object_store_options": options},
        ray={"num_cpus": 2, "namespace": namespace},
        model={"cache_dir": str(ray_settings.model_cache_dir)}, router={"use_embeddings": False},
        training={"max_concurrent_jobs": 1, "epochs": 1, "data_roots": ray_settings.training.data_roots},
        learning={"min_batch_size": 1000, "train_interval_seconds": 3600, "check_interval_seconds": 0.5,
                  "min_improvement": 0.0, "max_regression": 0.99, "max_kl": 100.0, "min_relevance": None,
                  "replay_fraction": 0.0, "eval_holdout_fraction": 0.25})  # the gate is not what this tests
    deploy_own_app(settings, APP, PREFIX)
    with httpx.Client(base_url=api_url + PREFIX, timeout=120) as client:
        poll(lambda: client.get("/health").status_code == 200, "the s3 app did not come up", 120, 0.5)
        yield client, root
    remove_own_app(APP, namespace)


@pytest.mark.timeout(900)
def test_train_serve_and_promote_through_an_s3_adapter_store(app, s3, tmp_path):
    client, root = app
    _, fs = s3
    data = tmp_path / "initial.jsonl"
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records()[:120]) + "\n", encoding="utf-8")
    job = client.post("/api/training/jobs", json={"name": ALIAS, "data_paths": [str(data)], "epochs": 2,
                                                  "learning_rate": 3e-3, "domain": "baurecht", "activate": "always"})
    assert job.status_code == 201, job.text

    def finished():
        v = client.get(f"/api/training/jobs/{job.json()['job_id']}").json()
        return v if v["status"] in ("COMPLETED", "FAILED", "CANCELLED") else None

    done = poll(finished, "the training job did not finish", 600, 1.0)
    assert done["status"] == "COMPLETED", done["error"]
    uri = registry_at(f"sqlite:///{root / 'clara.db'}").resolve(f"{ALIAS}@v1").uri  # the API does not hand out storage locations
    assert uri.startswith(f"s3://{BUCKET}/adapters/{ALIAS}/"), uri
    assert fs.exists(uri + "/adapter_config.json") and fs.exists(uri + "/adapter_model.safetensors")
    assert not (root / "adapters").exists()  # nothing written to the local default store
    served_by(client, ALIAS, f"{ALIAS}@v1")  # the LLM replica downloaded it from S3

    items = [{"prompt": r["prompt"], "response": r["response"], "rating": 1.0, "adapter": ALIAS}
             for r in records()[120:150]]
    assert client.post("/api/feedback/batch", json={"items": items}).status_code == 201
    assert client.post("/api/learning/trigger", json={"adapter": ALIAS}).status_code == 202

    cycle = next_decided_cycle(client, ALIAS)
    assert cycle["status"] == "promoted", cycle["reason"]
    assert registry_at(f"sqlite:///{root / 'clara.db'}").resolve(f"{ALIAS}@v2").uri.startswith(f"s3://{BUCKET}/adapters/")
    served_by(client, ALIAS, f"{ALIAS}@v2")
