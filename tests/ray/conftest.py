"""One local Ray cluster (2 CPUs) and one Serve app for the whole Ray test session."""

from __future__ import annotations

import socket

import httpx
import pytest

pytestmark = pytest.mark.ray


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def ray_settings(tmp_path_factory):
    import os

    from clara_ray.config import load_settings

    os.environ["CLARA_CONFIG"] = str(tmp_path_factory.mktemp("cfg") / "none.yaml")
    root = tmp_path_factory.mktemp("clara")
    tmp = str(tmp_path_factory.getbasetemp())  # every test's tmp_path: client-named paths may lie there
    return load_settings(
        storage={"data_dir": root},
        ray={"num_cpus": 2, "namespace": f"clara-test-{root.name}"},
        training={"max_concurrent_jobs": 2, "checkpoint_every_steps": 5, "epochs": 1,
                  "data_roots": [tmp, "{resources}"]},
        serving={"adapter_import_roots": [tmp]},
        datasets={"ingest_roots": [tmp, "{resources}"], "export_roots": [tmp]},
        # Trigger sizing only: the loop's recipe and gate run on the shipped defaults.
        learning={"min_batch_size": 20, "train_interval_seconds": 20, "check_interval_seconds": 0.5},
    )


@pytest.fixture(scope="session")
def ray_cluster(ray_settings):
    import ray

    from clara_ray.ray_runtime import init_ray

    init_ray(ray_settings)  # the dashboard's State API lets Ray Train clean up a cancelled run's placement group
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def base_model(ray_settings):
    from clara_ray.training.pipeline import base_model_path

    return base_model_path(ray_settings)


@pytest.fixture(scope="session")
def api_url(ray_cluster, ray_settings, base_model):
    from ray import serve

    from deployments.app import build

    port = _free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    overrides = ray_settings.model_dump(mode="json")
    serve.run(build(overrides), name="clara", route_prefix="/")
    url = f"http://127.0.0.1:{port}"
    httpx.get(url + "/health", timeout=30).raise_for_status()
    yield url
    serve.shutdown()


@pytest.fixture(scope="session")
def client(api_url):
    with httpx.Client(base_url=api_url, timeout=60) as c:
        yield c
