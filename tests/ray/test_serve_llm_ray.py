"""`serving.engine: vllm` behind our ingress, driven with the official openai SDK: ClaraApi resolves aliases, logs
completions and takes feedback; generations go to a Ray Serve LLM replica as OpenAI completions naming the exact
version (`<base>:<name>/<version id>`), which it downloads from the S3 adapter store. The replica is a CPU stand-in
speaking LLMServer's protocol (tests/ray/fake_serve_llm.py); the real one runs in tests/gpu where vLLM exists."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai
import pytest

from clara_ray.serving.testing import build_random_lora
from tests.ray.fake_serve_llm import FakeServeLLM
from tests.ray.own_app import remove_own_app
from tests.s3_server import s3_server
from tests.waiting import poll

pytestmark = [pytest.mark.ray]
APP, PREFIX, ALIAS, BUCKET = "servellm", "/servellm", "vlaw", "clara-llm-adapters"


@pytest.fixture(scope="module")
def app(ray_cluster, api_url, ray_settings, base_model, tmp_path_factory):
    from ray import serve

    from clara_ray.config import load_settings
    from deployments.api import ClaraApi

    root = tmp_path_factory.mktemp("servellm")
    namespace = f"{ray_settings.ray.namespace}-servellm"
    with s3_server(BUCKET) as options:
        store = f"s3://{BUCKET}/adapters"
        settings = load_settings(
            storage={"data_dir": root, "adapter_store_uri": store, "object_store_options": options},
            ray={"num_cpus": 2, "namespace": namespace}, model={"cache_dir": str(ray_settings.model_cache_dir)},
            router={"use_embeddings": False}, serving={"engine": "vllm", "adapter_import_roots": [str(root)]})
        llm = FakeServeLLM.bind(base_model, store, options)
        # `dict`: the stand-in takes the OpenAI body as it is (the real LLMServer takes Ray's CompletionRequest).
        ingress = ClaraApi.options(num_replicas=1, ray_actor_options={"num_cpus": 0.05}).bind(
            settings.model_dump(mode="json"), llm, dict)
        handle = serve.run(ingress, name=APP, route_prefix=PREFIX)
        poll(lambda: httpx.get(api_url + PREFIX + "/health").status_code == 200, "the app did not come up", 120, 0.5)
        yield root, serve.get_deployment_handle("LoraLLM", app_name=APP)
        del handle
        remove_own_app(APP, namespace)


@pytest.mark.timeout(300)
def test_openai_sdk_through_serve_llm_replicas(app, api_url, base_model):
    root, llm = app
    lora = build_random_lora(base_model, root / "imports" / "vlaw", r=8, lora_alpha=16, seed=3)
    http = httpx.Client(base_url=api_url + PREFIX, timeout=60)
    r = http.post("/api/serving/load_adapter", json={"name": ALIAS, "path": str(lora), "domain": "baurecht"})
    assert r.status_code == 201, r.text
    version_id, base_id = r.json()["id"], Path(base_model).name

    assert http.post("/api/serving/activate_adapter", json={"adapter": f"{ALIAS}@v1"}).status_code == 200
    client = openai.OpenAI(base_url=api_url + PREFIX + "/v1", api_key="unused", max_retries=0)
    raw = client.completions.with_raw_response.create(model=ALIAS, prompt="Baugenehmigung", max_tokens=5,
                                                      temperature=0)
    done = raw.parse()
    assert done.choices[0].text and done.usage.completion_tokens == 5 and done.model == ALIAS
    assert raw.headers["x-clara-model-version"] == f"{ALIAS}@v1"
    base = client.completions.create(model=base_id, prompt="Baugenehmigung", max_tokens=5, temperature=0)
    assert base.usage.completion_tokens >= 1

    chat = client.chat.completions.create(model=ALIAS, messages=[{"role": "user", "content": "Was gilt?"}],
                                          max_tokens=6, stream=True, stream_options={"include_usage": True})
    chunks = list(chat)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens >= 1

    seen = llm.seen.remote().result()
    assert [b["model"] for b in seen["bodies"]].count(base_id) == 1  # the base request: no LoRA
    lora_calls = [b for b in seen["bodies"] if b["model"] != base_id]
    assert len(lora_calls) == 2 and {b["model"] for b in lora_calls} == {f"{base_id}:{ALIAS}/{version_id}"}
    assert seen["downloaded"] == [f"s3://{BUCKET}/adapters/{ALIAS}/{version_id}"]  # once, then held
    assert isinstance(lora_calls[-1]["prompt"], list)  # the chat turn went as the training template's token ids

    # The ingress logged the answer: feedback by its completion id is accepted.
    fb = http.post("/api/feedback", json={"completion_id": done.id, "rating": 1.0})
    assert fb.status_code in (200, 201), fb.text
