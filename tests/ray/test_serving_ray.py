"""Multi-LoRA serving on Ray Serve: mixed concurrent requests, streaming, hot promotion under load, openai client, LRU."""

from __future__ import annotations

import concurrent.futures as cf
import threading
import time

import httpx
import pytest

pytestmark = [pytest.mark.ray]
PROMPT = "Wann brauche ich eine Baugenehmigung nach § 35 BauGB?"


@pytest.fixture(scope="module")
def adapters(api_url, ray_settings, base_model, tmp_path_factory):
    """Random rank-8 LoRA versions registered directly (training is covered by the training tests)."""
    from clara_ray.adapters.registry import AdapterRegistry
    from clara_ray.adapters.store import AdapterStore
    from clara_ray.db.engine import Database
    from clara_ray.serving.testing import build_random_lora
    from clara_ray.training.pipeline import base_model_id

    root = tmp_path_factory.mktemp("loras")
    reg = AdapterRegistry(Database(ray_settings.storage.database_url))
    store = AdapterStore(ray_settings.storage.adapter_store_uri)
    refs = {}
    for i in range(12):
        name = f"srv{i // 2}"
        folder = build_random_lora(base_model, root / f"l{i}", r=8, lora_alpha=16, seed=100 + i)
        vid = f"srvver{i}"
        row = reg.register(name=name, uri=store.put(folder, name, vid), version_id=vid,
                           base_model=base_model_id(base_model), trainer_type="LORA", rank=8, domain=name)
        if i % 2 == 0:
            reg.activate(row.id)
        refs[f"{name}@v{row.version}"] = vid
    return refs


def generate(client, model, max_tokens=12, headers=None):
    r = client.post("/api/serving/generate", json={"prompt": PROMPT, "adapter": model, "max_tokens": max_tokens},
                    headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.timeout(300)
def test_mixed_concurrent_requests_match_single_requests(client, adapters, api_url):
    models = ["srv0", "srv1", "srv2", "srv3@v2", "base"]
    alone = {m: generate(client, m)["text"] for m in models}
    assert len(set(alone.values())) == len(models)
    with httpx.Client(base_url=api_url, timeout=120) as c, cf.ThreadPoolExecutor(16) as pool:
        futures = [(m, pool.submit(generate, c, m)) for m in models * 4]
        for m, f in futures:
            assert f.result()["text"] == alone[m], m


@pytest.mark.timeout(300)
def test_streaming_is_incremental(api_url, adapters):
    chunks, times = [], []
    with httpx.Client(base_url=api_url, timeout=120) as c:
        with c.stream("POST", "/api/serving/generate/stream",
                      json={"prompt": PROMPT, "adapter": "srv0", "max_tokens": 24}) as r:
            for line in r.iter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    chunks.append(line)
                    times.append(time.perf_counter())
    assert len(chunks) > 3 and times[-1] > times[0]


@pytest.mark.timeout(300)
def test_promotion_under_load_fails_nothing(api_url, adapters, client, ray_settings):
    old, new = generate(client, "srv4@v1")["text"], generate(client, "srv4@v2")["text"]
    assert old != new
    stop, results, errors = threading.Event(), [], []  # (time the request was sent, response)

    def loop():
        with httpx.Client(base_url=api_url, timeout=120) as c:
            while not stop.is_set():
                sent = time.time()
                r = c.post("/api/serving/generate", json={"prompt": PROMPT, "adapter": "srv4", "max_tokens": 12})
                (results if r.status_code == 200 else errors).append((sent, r))

    def wait_until(pred, what: str, timeout: float = 120.0) -> None:
        deadline = time.time() + timeout
        while not pred():
            assert time.time() < deadline and not errors, f"{what} after {timeout}s; errors: {errors[:3]}"
            time.sleep(0.05)

    threads = [threading.Thread(target=loop) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: len(results) >= 8, "no load before the promotion")
        flipped_at = time.time()
        activated = client.post("/api/serving/activate_adapter", json={"adapter": "srv4@v2"})
        assert activated.status_code == 200 and activated.json()["replicas_pending"] == 0, activated.text
        # The activation returned once every replica had applied the revision event (no TTL to wait out):
        # requests sent from then on must all reach v2.
        settled_at = time.time()
        wait_until(lambda: sum(sent > settled_at for sent, _ in results) >= 8, "too few requests after the activation")
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert not errors, [r.text for _, r in errors[:3]]
    late = [r.json() for sent, r in results if sent > settled_at]
    assert late and all(x["model"] == "srv4@v2" and x["text"] == new for x in late)
    assert any(r.json()["model"] == "srv4@v1" for sent, r in results if sent < flipped_at)


@pytest.mark.timeout(300)
def test_openai_client(api_url, adapters):
    from openai import OpenAI

    oa = OpenAI(base_url=api_url + "/v1", api_key="unused", max_retries=0)
    ids = {m.id for m in oa.models.list().data}
    assert {"srv0", "srv0@v1", "srv0@v2"} <= ids
    c = oa.completions.create(model="srv0", prompt=PROMPT, max_tokens=8)
    assert c.choices[0].text and c.usage.completion_tokens >= 1
    chat = oa.chat.completions.create(model="srv1@v2", messages=[{"role": "user", "content": PROMPT}], max_tokens=8)
    assert chat.choices[0].message.role == "assistant"
    parts = [ch.choices[0].delta.content or "" for ch in
             oa.chat.completions.create(model="srv1@v2", messages=[{"role": "user", "content": PROMPT}],
                                        max_tokens=8, stream=True)]
    assert "".join(parts) == chat.choices[0].message.content and len([p for p in parts if p]) > 1


@pytest.mark.timeout(300)
def test_openai_sdk_contract_version_header_and_feedback_by_completion_id(api_url, adapters, client, ray_settings):
    """Through Serve: OpenAI errors, the true streamed finish_reason and usage, the version header after a promotion,
    and feedback that refers to the answer by its id and lands on the version that gave it."""
    import openai
    from sqlalchemy import select

    from clara_ray.db.engine import Database
    from clara_ray.db.tables import Feedback

    oa = openai.OpenAI(base_url=api_url + "/v1", api_key="unused", max_retries=0)
    ask = [{"role": "user", "content": PROMPT}]
    with pytest.raises(openai.NotFoundError) as e:
        oa.chat.completions.create(model="nope", messages=ask)
    assert e.value.code == "model_not_found" and "srv0" in e.value.message
    with pytest.raises(openai.BadRequestError) as e:
        oa.chat.completions.create(model="srv5", messages=ask, response_format={"type": "json_object"})
    assert e.value.param == "response_format"
    chunks = list(oa.chat.completions.create(model="srv5", messages=ask, max_tokens=4, stream=True,
                                             stream_options={"include_usage": True}))
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["length"]
    assert chunks[-1].usage.completion_tokens == 4

    raw = oa.chat.completions.with_raw_response.create(model="srv5", messages=ask, max_tokens=4)
    assert raw.headers["x-clara-model-version"] == "srv5@v1"
    assert client.post("/api/serving/activate_adapter", json={"adapter": "srv5@v2"}).status_code == 200
    raw = oa.chat.completions.with_raw_response.create(model="srv5", messages=ask, max_tokens=8)
    assert raw.headers["x-clara-model-version"] == "srv5@v2"  # this API replica dropped its alias cache
    answer = raw.parse()

    r = client.post("/api/feedback", json={"completion_id": answer.id, "rating": 0.2,
                                           "correction": "Nach § 35 BauGB ist ein Außenbereichsvorhaben nur "
                                                         "ausnahmsweise zulässig."})
    assert r.status_code == 201 and r.json()["accepted"], r.text
    with Database(ray_settings.storage.database_url).session() as s:
        row = s.scalars(select(Feedback).where(Feedback.completion_id == answer.id)).one()
    assert (row.version_id, row.alias, row.response) == (adapters["srv5@v2"], "srv5", answer.choices[0].message.content)
    assert client.post("/api/feedback", json={"completion_id": "chatcmpl-unknown", "rating": 1}).status_code == 404
    logged = client.get(f"/api/completions/{answer.id}").json()  # from the log, written or still queued
    assert (logged["version_ref"], logged["output"]) == ("srv5@v2", answer.choices[0].message.content)


@pytest.mark.timeout(300)
def test_lru_evicts_beyond_replica_capacity(client, adapters):
    pin = {"X-Clara-Allow-Inactive": "true"}  # earlier tests archived some versions by promoting others
    for ref in adapters:  # 12 versions > 8 per replica
        generate(client, ref, max_tokens=2, headers=pin)
    stats = client.get("/api/serving/router/status").json()["replicas"]
    assert len(stats["loaded_adapters"]) <= 8 < len(adapters)  # Serve's multiplexing LRU unloaded the rest
    assert generate(client, "srv0@v1", max_tokens=4, headers=pin)["model"] == "srv0@v1"  # an evicted one reloads
