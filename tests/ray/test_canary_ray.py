"""Canary on live ratings on Ray Serve: a cycle that passes the gate serves half of its alias's users, ratings by
completion id promote it; the next cycle's canary is rated down and rolled back. Own Serve app, namespace, database."""

from __future__ import annotations

import httpx
import pytest

from clara_ray.resources import load_jsonl, qa_path
from tests.ray.own_app import deploy_own_app, remove_own_app
from tests.waiting import poll

pytestmark = [pytest.mark.ray]
APP, PREFIX, ALIAS = "canary", "/canary", "canary"
# The tiny model's chat format (clara_ray.training.base_model.CHAT_TEMPLATE), so the adapter answers.
CHAT = "<|begin_of_text|><|user|>{}<|end_of_text|><|assistant|>"


def records():
    return [r for r in load_jsonl(qa_path()) if r["domain"] == "baurecht"]


@pytest.fixture(scope="module")
def canary(ray_cluster, api_url, ray_settings, base_model, tmp_path_factory):
    """1 ClaraApi + 1 LoraLLM replica on learning.canary_fraction 0.5 and 3 ratings to decide; alias `canary` v1 is
    a random LoRA. The gate is opened wide: what it decides is covered in test_learning_ray.py."""
    from clara_ray.adapters.registry import AdapterRegistry
    from clara_ray.adapters.store import AdapterStore
    from clara_ray.config import load_settings
    from clara_ray.db.engine import Database
    from clara_ray.serving.testing import build_random_lora
    from clara_ray.training.pipeline import base_model_id

    root = tmp_path_factory.mktemp("canary")
    namespace = f"{ray_settings.ray.namespace}-canary"
    settings = load_settings(
        storage={"data_dir": root}, ray={"num_cpus": 2, "namespace": namespace},
        model={"cache_dir": str(ray_settings.model_cache_dir)}, router={"use_embeddings": False},
        training={"max_concurrent_jobs": 1, "epochs": 1, "data_roots": ray_settings.training.data_roots},
        learning={"min_batch_size": 1000, "train_interval_seconds": 3600, "check_interval_seconds": 0.5,
                  "min_improvement": 0.0, "max_regression": 0.99, "max_kl": 100.0, "min_relevance": None,
                  "replay_fraction": 0.0, "eval_holdout_fraction": 0.25, "canary_fraction": 0.5,
                  "canary_min_ratings": 3, "canary_margin": 0.1, "canary_max_seconds": 900})
    reg = AdapterRegistry(Database(settings.storage.database_url))
    folder = build_random_lora(base_model, root / "v1", r=8, lora_alpha=16, seed=501, b_std=0.05)
    store = AdapterStore.for_storage(settings.storage)
    row = reg.register(name=ALIAS, uri=store.put(folder, ALIAS, "canaryv1"), version_id="canaryv1",
                       base_model=base_model_id(base_model), trainer_type="LORA", rank=8, domain="baurecht")
    reg.activate(row.id)
    deploy_own_app(settings, APP, PREFIX)
    with httpx.Client(base_url=api_url + PREFIX, timeout=120) as client:
        poll(lambda: client.get("/health").status_code == 200, "the canary app did not come up", 120, 0.5)
        yield client
    remove_own_app(APP, namespace)


def canary_cycle(client, rows: list[dict]) -> dict:
    """Send `rows` as good feedback, start a cycle and wait until its candidate passed the gate and went CANARY."""
    known = {c["cycle_id"] for c in client.get("/api/learning/cycles", params={"adapter": ALIAS}).json()["items"]}
    items = [{"prompt": r["prompt"], "response": r["response"], "rating": 1.0, "adapter": ALIAS} for r in rows]
    res = client.post("/api/feedback/batch", json={"items": items})
    assert res.status_code == 201 and any(r["status"] == "held_out" for r in res.json()["results"]), res.text
    assert client.post("/api/learning/trigger", json={"adapter": ALIAS}).status_code == 202

    def decided():
        items = client.get("/api/learning/cycles", params={"adapter": ALIAS}).json()["items"]
        new = [c for c in items if c["cycle_id"] not in known and c["status"] != "running"]
        return new[0] if new else None

    c = poll(decided, "no cycle reached the gate", 600, 1.0)
    assert c["status"] == "canary", c["reason"]
    return c


def ask(client, user: int, n: int) -> tuple[str, str, bool]:
    """An OpenAI completion for the alias on behalf of end user `user`: (completion id, version header, whether it
    has text: a tiny adapter may end its turn at once, and an empty answer has nothing to rate)."""
    question = records()[n % len(records())]["prompt"]
    r = client.post("/v1/completions", json={"model": ALIAS, "user": f"user{user}", "max_tokens": 6,
                                             "prompt": CHAT.format(f"{question} (Frage {n})")})
    assert r.status_code == 200, r.text
    assert r.json()["system_fingerprint"] == r.headers["x-clara-model-version"]
    return r.json()["id"], r.headers["x-clara-model-version"], bool(r.json()["choices"][0]["text"])


def rate_until_decided(client, cycle: dict, canary_rating: float, active_rating: float, first_user: int) -> dict:
    """Users ask until 3 answers of the canary and 3 of the active version are logged, then those are rated by
    completion id (the active version's first); returns the decided cycle. Each user keeps getting one version."""
    canary_ref = cycle["canary"]["version"]
    answers: dict[str, list[str]] = {"canary": [], "active": []}
    for user in range(first_user, first_user + 60):
        cid, version, has_text = ask(client, user, user)
        assert ask(client, user, user + 100)[1] == version  # sticky per end user
        if has_text:
            answers["canary" if version == canary_ref else "active"].append(cid)
        if min(len(v) for v in answers.values()) >= 3:
            break
    assert min(len(v) for v in answers.values()) >= 3, answers  # half of the users each side: 60 is plenty
    for side, value in (("active", active_rating), ("canary", canary_rating)):
        for cid in answers[side][:3]:
            r = client.post("/api/feedback", json={"completion_id": cid, "rating": value})
            assert r.status_code == 201, r.text

    def done():
        c = next(x for x in client.get("/api/learning/cycles", params={"adapter": ALIAS}).json()["items"]
                 if x["cycle_id"] == cycle["cycle_id"])
        return c if c["status"] != "canary" else None

    return poll(done, "the canary was not decided", 60, 0.5)


@pytest.mark.timeout(1200)
def test_canary_promoted_on_good_ratings_and_rolled_back_on_bad_ones(canary):
    client = canary
    c = canary_cycle(client, records()[:16])
    listed = client.get("/api/serving/adapters/list").json()
    assert listed["aliases"][ALIAS] == f"{ALIAS}@v1"  # the active version still owns the alias
    assert listed["canaries"][ALIAS]["version"] == f"{ALIAS}@v2" and listed["canaries"][ALIAS]["fraction"] == 0.5
    assert c["canary"]["version"] == f"{ALIAS}@v2" and c["canary"]["started_at"]
    status = {v["ref"]: v["status"] for v in listed["versions"]}
    assert status == {f"{ALIAS}@v1": "active", f"{ALIAS}@v2": "canary"}

    promoted = rate_until_decided(client, c, canary_rating=1.0, active_rating=0.8, first_user=0)
    assert promoted["status"] == "promoted", promoted["reason"]
    assert promoted["canary"]["canary_ratings"] >= 3 and "not worse" in promoted["reason"]
    listed = client.get("/api/serving/adapters/list").json()
    assert listed["aliases"][ALIAS] == f"{ALIAS}@v2" and ALIAS not in listed["canaries"]
    assert {ask(client, u, u)[1] for u in range(8)} == {f"{ALIAS}@v2"}  # every user, every replica

    c2 = canary_cycle(client, records()[16:32])
    assert c2["canary"]["version"] == f"{ALIAS}@v3"
    rolled = rate_until_decided(client, c2, canary_rating=0.0, active_rating=1.0, first_user=200)
    assert rolled["status"] == "rolled_back", rolled["reason"]
    assert rolled["failed_criteria"][-1]["code"] == "canary_ratings_worse" and "worse" in rolled["reason"]
    listed = client.get("/api/serving/adapters/list").json()
    assert listed["aliases"][ALIAS] == f"{ALIAS}@v2" and ALIAS not in listed["canaries"]
    v3 = next(v for v in listed["versions"] if v["ref"] == f"{ALIAS}@v3")
    assert v3["status"] == "rejected" and "learning cycle" in v3["status_reason"]
    assert {ask(client, u, u)[1] for u in range(200, 208)} == {f"{ALIAS}@v2"}
