"""Serving API in-process: registry-resolved models, router, limits, adapter management, SSE — the real batched engine."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from clara_ray.adapters.registry import AdapterRegistry
from clara_ray.adapters.store import AdapterStore
from clara_ray.api.app import build_app
from clara_ray.db.engine import Database
from clara_ray.training.base_model import TinyModelSpec, ensure_base_model
from clara_ray.serving.batched_engine import BatchedEngine
from clara_ray.serving.local_backend import AdapterLoader, LocalBackend
from clara_ray.serving.service import ServingService
from clara_ray.serving.testing import build_random_lora
from clara_ray.training.pipeline import base_model_id

DOMAINS = {"baurecht": "Baurecht: Baugenehmigung, Bebauungsplan, BauGB",
           "steuerrecht": "Steuerrecht: Steuerbescheid, Finanzamt, Einspruch nach AO",
           "sozialrecht": "Sozialrecht: Bürgergeld, SGB II, Jobcenter"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from clara_ray.config import load_settings

    root = tmp_path_factory.mktemp("serve")
    settings = load_settings(storage={"data_dir": root}, serving={"max_new_tokens": 32, "max_prompt_tokens": 64,
                                                                  "adapter_import_roots": [str(root.parent)]},
                             router={"use_embeddings": False})  # root.parent: every test's tmp_path lies in it
    base = str(ensure_base_model("tiny", root / "models", TinyModelSpec(pretrain_steps=0)))
    db = Database(settings.storage.database_url)
    reg, store = AdapterRegistry(db), AdapterStore(settings.storage.adapter_store_uri)
    for i, (name, desc) in enumerate(DOMAINS.items()):
        for v in range(2):
            folder = build_random_lora(base, root / f"src-{name}-{v}", r=8, lora_alpha=16, seed=10 * i + v)
            row = reg.register(name=name, uri=store.put(folder, name, f"{name}{v}"), version_id=f"{name}{v}",
                               base_model=base_model_id(base), trainer_type="LORA", rank=8, domain=name,
                               description=desc)
            if v == 0:
                reg.activate(row.id)
    engine = BatchedEngine(base, max_adapters=4, max_new_tokens=32, max_prompt_tokens=64)
    loader = AdapterLoader(engine, store, root / "cache", base_model_id(base))
    svc = ServingService(settings, db, LocalBackend(engine, loader), base_model_path=base)
    with TestClient(build_app(settings, serving=svc)) as client:
        yield client, svc, root, base


def gen(client, **body):
    r = client.post("/api/serving/generate", json={"prompt": "Wann brauche ich eine Baugenehmigung?",
                                                   "max_tokens": 8, **body})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.timeout(180)
def test_models_and_resolution(world):
    client, *_ = world
    ids = [m["id"] for m in client.get("/v1/models").json()["data"]]
    assert {"baurecht", "baurecht@v1", "baurecht@v2", "steuerrecht"} <= set(ids) and ids[0].startswith("tiny-")
    alias, exact, base = gen(client, adapter="baurecht"), gen(client, adapter="baurecht@v1"), gen(client, adapter="base")
    assert alias["model"] == exact["model"] == "baurecht@v1" and alias["text"] == exact["text"]
    other = gen(client, adapter="baurecht@v2")
    assert other["model"] == "baurecht@v2" and base["model"].startswith("tiny-")
    assert len({alias["text"], other["text"], base["text"]}) == 3  # each adapter really changes the output
    prefixed = client.post("/v1/completions", json={"model": f"{base['model']}:baurecht", "prompt": "x", "max_tokens": 4})
    assert prefixed.status_code == 200


@pytest.mark.timeout(180)
def test_bad_requests(world):
    client, *_ = world
    r = client.post("/api/serving/generate", json={"prompt": "x", "adapter": "nope", "max_tokens": 4})
    assert r.status_code == 404 and "baurecht" in r.json()["detail"]  # names what exists
    assert client.post("/api/serving/generate", json={"prompt": "x", "adapter": "../../etc",
                                                      "max_tokens": 4}).status_code == 422
    r = client.post("/api/serving/generate", json={"prompt": "x", "max_tokens": 1000})
    assert r.status_code == 400 and "max_tokens" in r.json()["detail"]
    r = client.post("/api/serving/generate", json={"prompt": "Baugenehmigung " * 60, "adapter": "base", "max_tokens": 4})
    assert r.status_code == 400
    assert client.post("/api/serving/generate", json={"prompt": ""}).status_code == 422
    assert client.post("/v1/chat/completions", json={"model": "baurecht", "messages": []}).status_code == 400


@pytest.mark.timeout(180)
def test_load_activate_rollback_unload(world, tmp_path):
    client, svc, root, base = world
    good = build_random_lora(base, tmp_path / "good", r=8, lora_alpha=16, seed=99)
    r = client.post("/api/serving/load_adapter", json={"name": "umwelt", "path": str(good), "domain": "umweltrecht"})
    assert r.status_code == 201, r.text
    assert r.json()["ref"] == "umwelt@v1" and r.json()["status"] == "candidate"
    too_big = build_random_lora(base, tmp_path / "big", r=128, lora_alpha=16, seed=1)
    r = client.post("/api/serving/load_adapter", json={"name": "umwelt", "path": str(too_big)})
    assert r.status_code == 409 and "rank" in r.json()["detail"]
    r = client.post("/api/serving/load_adapter", json={"name": "umwelt", "path": "/tmp/../etc"})
    assert r.status_code == 403 and r.json()["detail"].startswith("path: outside")  # resolves to /etc
    assert client.post("/api/serving/load_adapter", json={"name": "Bad Name", "path": str(good)}).status_code == 422
    r = client.post("/api/serving/load_adapter", json={"name": "umwelt", "path": str(tmp_path)})
    assert r.status_code == 409 and "not a PEFT adapter" in r.json()["detail"]
    assert [v["ref"] for v in client.get("/api/serving/adapters/list").json()["versions"]].count("umwelt@v1") == 1

    before = gen(client, adapter="steuerrecht")
    flip = client.post("/api/serving/activate_adapter", json={"adapter": "steuerrecht@v2"}).json()
    assert flip["version"] == "steuerrecht@v2"
    after = gen(client, adapter="steuerrecht")
    assert after["model"] == "steuerrecht@v2" and after["text"] != before["text"]
    assert client.post("/api/serving/rollback", json={"name": "steuerrecht"}).json()["version"] == "steuerrecht@v1"
    assert gen(client, adapter="steuerrecht")["text"] == before["text"]
    assert client.delete("/api/serving/unload_adapter", params={"adapter": "steuerrecht@v1"}).status_code == 409
    r = client.delete("/api/serving/unload_adapter", params={"adapter": "steuerrecht@v2"})
    assert r.status_code == 200 and r.json()["status"] == "archived"


@pytest.mark.timeout(180)
def test_router_picks_domain_adapter_and_reports_confidence(world):
    client, *_ = world
    out = gen(client, prompt="Mein Steuerbescheid vom Finanzamt ist falsch, wie lege ich Einspruch ein?")
    assert out["routing"]["adapter"] == "steuerrecht" and out["routing"]["confidence"] >= 0.85
    assert out["model"].startswith("steuerrecht@")
    vague = gen(client, prompt="Hallo, wie geht es?")
    assert vague["routing"]["adapter"] is None and vague["routing"]["confidence"] < 0.55  # default: base model
    cfg = client.post("/api/serving/router/configure", json={"default_adapter": "sozialrecht", "conf_low": 0.6})
    assert cfg.status_code == 200 and cfg.json()["conf_low"] == 0.6
    assert gen(client, prompt="Hallo, wie geht es?")["model"].startswith("sozialrecht@")
    assert client.post("/api/serving/router/configure", json={"default_adapter": "nope"}).status_code == 404
    assert client.post("/api/serving/router/configure", json={"conf_low": 2}).status_code == 422
    status = client.get("/api/serving/router/status").json()
    assert status["settings"]["default_adapter"] == "sozialrecht" and len(status["candidates"]) >= 3
    client.post("/api/serving/router/configure", json={"default_adapter": None, "conf_low": 0.55})


@pytest.mark.timeout(180)
def test_streaming_and_batch(world):
    client, *_ = world
    full = gen(client, adapter="baurecht", max_tokens=12)["text"]
    with client.stream("POST", "/api/serving/generate/stream",
                       json={"prompt": "Wann brauche ich eine Baugenehmigung?", "adapter": "baurecht",
                             "max_tokens": 12}) as r:
        lines = [ln for ln in r.iter_lines() if ln.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    deltas = [json.loads(ln[6:])["delta"] for ln in lines[:-1]]
    assert len(deltas) > 1 and "".join(deltas) == full
    batch = client.post("/api/serving/generate/batch", json={"requests": [
        {"prompt": "Wann brauche ich eine Baugenehmigung?", "adapter": a, "max_tokens": 8}
        for a in ("baurecht", "steuerrecht", "base", "sozialrecht")]}).json()["results"]
    assert [b["model"].split("@")[0] for b in batch][:2] == ["baurecht", "steuerrecht"]
    assert batch[0]["text"] == gen(client, adapter="baurecht")["text"]  # same text alone as in a mixed batch


@pytest.mark.timeout(180)
def test_retired_versions_are_refused_unless_an_admin_pins_them(world, tmp_path):
    """Archived (superseded or unloaded) and rejected versions answer 409 with status and reason on every route;
    candidates and the active version are served; an admin may pin a retired one with X-Clara-Allow-Inactive."""
    client, svc, root, base = world
    reg = svc.registry
    rows = [reg.register(name="mietrecht", uri=svc.store.put(build_random_lora(base, tmp_path / f"m{i}", r=8,
                                                                               lora_alpha=16, seed=40 + i),
                                                              "mietrecht", f"miet{i}"),
                         version_id=f"miet{i}", base_model=base_model_id(base), trainer_type="LORA", rank=8)
            for i in range(4)]
    client.post("/api/serving/activate_adapter", json={"adapter": "mietrecht@v1"})
    client.post("/api/serving/activate_adapter", json={"adapter": "mietrecht@v2"})  # v1: archived (superseded)
    reg.set_status(rows[2].id, "rejected", "learning cycle x: improvement below min_improvement")
    assert gen(client, adapter="mietrecht")["model"] == "mietrecht@v2"
    assert gen(client, adapter="mietrecht@v4")["model"] == "mietrecht@v4"  # a candidate, for side-by-side

    for ref, status, reason in (("mietrecht@v1", "archived", None), ("mietrecht@v3", "rejected", "min_improvement")):
        r = client.post("/api/serving/generate", json={"prompt": "x", "adapter": ref, "max_tokens": 4})
        assert r.status_code == 409 and r.json()["version_status"] == status, r.text
        assert status in r.json()["detail"] and (reason is None or reason in r.json()["status_reason"])
        r = client.post("/v1/chat/completions", json={"model": ref, "max_tokens": 4,
                                                      "messages": [{"role": "user", "content": "x"}]})
        assert r.status_code == 409 and status in r.json()["error"]["message"]
        pinned = client.post("/api/serving/generate", json={"prompt": "x", "adapter": ref, "max_tokens": 4},
                             headers={"X-Clara-Allow-Inactive": "true"})
        assert pinned.status_code == 200 and pinned.json()["model"] == ref  # security off: the caller is admin
    r = client.delete("/api/serving/unload_adapter", params={"adapter": "mietrecht@v4"})
    r = client.post("/api/serving/generate", json={"prompt": "x", "adapter": "mietrecht@v4", "max_tokens": 4})
    assert r.status_code == 409 and r.json()["status_reason"] == "unloaded through the API"
    listed = {m["id"]: m for m in client.get("/v1/models").json()["data"]}
    assert [listed[f"mietrecht@v{i}"]["servable"] for i in (1, 2, 4)] == [False, True, False]
    assert "mietrecht@v3" not in listed  # the gate's rejected candidate is not offered as a model


def test_pinning_needs_adapters_activate():
    from starlette.requests import Request

    from clara_ray.api.auth import PermissionDenied, Principal
    from clara_ray.api.pinning import allow_inactive

    def request(value: str | None) -> Request:
        headers = [] if value is None else [(b"x-clara-allow-inactive", value.encode())]
        return Request({"type": "http", "headers": headers})

    admin, user = Principal("a", {"admin"}), Principal("u", {"user"})
    assert allow_inactive(request("true"), admin) and not allow_inactive(request(None), user)
    assert not allow_inactive(request("false"), admin)
    with pytest.raises(PermissionDenied, match="adapters:activate"):
        allow_inactive(request("true"), user)
