"""Pushed promotion on Ray Serve: 2 LLM replicas, an alias TTL of 10 minutes, and every replica in step right after
activate and router/configure return (the revision hub's event, not the TTL).

One API replica: two on one node cannot share a data_dir today (each opens the embedded graph database of
DatasetService, which takes a file lock). Two API replicas kept in step are covered without Ray in
tests/unit/serving/test_revisions.py; the hub reaches every subscriber the same way."""

from __future__ import annotations

import concurrent.futures as cf

import httpx
import pytest

from tests.ray.own_app import deploy_own_app, remove_own_app
from tests.waiting import poll

pytestmark = [pytest.mark.ray]
PROMPT = "Wann brauche ich eine Baugenehmigung nach § 35 BauGB?"
APP, PREFIX = "push", "/push"


@pytest.fixture(scope="module")
def push(ray_cluster, api_url, ray_settings, base_model, tmp_path_factory):
    """A second Serve app in its own namespace and database: 1 ClaraApi + 2 LoraLLM replicas, alias TTL 600 s."""
    from clara_ray.adapters.registry import AdapterRegistry
    from clara_ray.adapters.store import AdapterStore
    from clara_ray.config import load_settings
    from clara_ray.db.engine import Database
    from clara_ray.serving.revision_client import RayRevisionClient
    from clara_ray.serving.testing import build_random_lora
    from clara_ray.training.pipeline import base_model_id

    root = tmp_path_factory.mktemp("push")
    namespace = f"{ray_settings.ray.namespace}-push"
    settings = load_settings(storage={"data_dir": root}, ray={"num_cpus": 2, "namespace": namespace},
                             model={"cache_dir": str(ray_settings.model_cache_dir)},  # the session's base model
                             serving={"alias_ttl_seconds": 600}, router={"use_embeddings": False})
    reg = AdapterRegistry(Database(settings.storage.database_url))
    store = AdapterStore.for_storage(settings.storage)
    ids = {}
    for v in (1, 2, 3):
        folder = build_random_lora(base_model, root / f"l{v}", r=8, lora_alpha=16, seed=300 + v)
        row = reg.register(name="push", uri=store.put(folder, "push", f"pushv{v}"), version_id=f"pushv{v}",
                           base_model=base_model_id(base_model), trainer_type="LORA", rank=8, domain="baurecht")
        ids[f"push@v{row.version}"] = row.id
    reg.activate(ids["push@v1"])

    deploy_own_app(settings, APP, PREFIX, llm_replicas=2, health_check_period_s=1)
    hub = RayRevisionClient(namespace)
    poll(lambda: sum(s.live for s in hub.subscribers()) >= 3, "the 3 replicas did not follow the hub", 180)
    with httpx.Client(base_url=api_url + PREFIX, timeout=60) as client:
        yield client, hub, ids
    remove_own_app(APP, namespace)


def served_versions(client, n: int = 16) -> list[str]:
    """The version that answered each of `n` concurrent requests for the alias (spread over the LLM replicas)."""
    def one(_):
        r = client.post("/api/serving/generate", json={"prompt": PROMPT, "adapter": "push", "max_tokens": 1})
        assert r.status_code == 200, r.text
        return r.json()["model"]

    with cf.ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, range(n)))


@pytest.mark.timeout(400)
def test_activate_and_rollback_reach_every_replica_before_they_return(push):
    client, hub, ids = push
    assert set(served_versions(client)) == {"push@v1"}  # the API replica caches v1 now, for 600 s
    out = client.post("/api/serving/activate_adapter", json={"adapter": "push@v2"})
    assert out.status_code == 200, out.text
    body = out.json()
    assert body["version"] == "push@v2" and body["replicas_updated"] >= 3 and body["replicas_pending"] == 0, body
    # Before any request names v2, the LLM replicas loaded it (prefetched on the event); stats ask a random one.
    for _ in range(4):
        loaded = client.get("/api/serving/router/status").json()["replicas"]["loaded_adapters"]
        assert ids["push@v2"] in loaded, loaded
    assert set(served_versions(client)) == {"push@v2"}  # the very next requests
    state = hub.state()
    assert all(s.seq == state.seq for s in hub.subscribers() if s.live)  # each replica confirmed the event

    back = client.post("/api/serving/rollback", json={"name": "push"}).json()
    assert back["version"] == "push@v1" and back["replicas_pending"] == 0, back
    assert set(served_versions(client)) == {"push@v1"}


@pytest.mark.timeout(400)
def test_router_settings_are_pushed_and_survive_a_replica_restart(push):
    import ray

    client, hub, _ = push
    r = client.post("/api/serving/router/configure", json={"conf_low": 0.42, "default_adapter": "push"})
    assert r.status_code == 200 and r.json()["conf_low"] == 0.42, r.text
    statuses = [client.get("/api/serving/router/status").json() for _ in range(4)]
    revision = statuses[0]["settings_revision"]
    assert revision >= 1 and all(s["settings"]["conf_low"] == 0.42 and s["settings_revision"] == revision
                                 for s in statuses)

    api = [s.id for s in hub.subscribers() if s.role == "api" and s.live]
    assert len(api) == 1 and all(s.router_revision == revision for s in hub.subscribers() if s.role == "api")
    ray.kill(ray.get_actor(api[0], namespace="serve"), no_restart=True)  # Serve starts a replacement
    fresh = poll(lambda: [s for s in hub.subscribers() if s.role == "api" and s.id not in api],
                 "no replacement API replica followed the hub", 180)
    assert fresh[0].router_revision == revision  # it read the stored settings when it started
    status = poll(lambda: _status(client), "the replacement API replica did not answer", 120)
    assert status["settings"]["conf_low"] == 0.42 and status["settings_revision"] == revision


def _status(client) -> dict | None:
    try:
        r = client.get("/api/serving/router/status")
    except httpx.HTTPError:
        return None
    return r.json() if r.status_code == 200 else None
