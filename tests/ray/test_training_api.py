"""Real training through the Serve API on a local Ray cluster: LoRA, QLoRA, cancel, failure, retry, WebSocket."""

from __future__ import annotations

import json
import math
import time

import pytest

from clara_ray.resources import qa_path

pytestmark = [pytest.mark.ray]

QA = str(qa_path())


def job(name, **kw):
    body = {"name": name, "data_paths": [QA], "record_filter": {"domain": "baurecht"}, "max_steps": 12}
    body.update(kw)
    return body


def wait_status(client, job_id, statuses, timeout=240):
    deadline = time.time() + timeout
    while time.time() < deadline:
        view = client.get(f"/api/training/jobs/{job_id}").json()
        if view["status"] in statuses:
            return view
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} still {view['status']} after {timeout}s: {view}")


def val_perplexity(model, tok, texts):
    import torch

    losses, n = 0.0, 0
    with torch.no_grad():
        for t in texts:
            ids = tok(t, return_tensors="pt")["input_ids"][:, :256]
            out = model(input_ids=ids, labels=ids)
            k = ids.shape[1] - 1
            losses += float(out.loss) * k
            n += k
    return math.exp(losses / n)


@pytest.mark.timeout(600)
def test_lora_and_qlora_jobs_complete_and_adapter_lowers_perplexity(client, ray_settings, base_model):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from clara_ray.adapters.registry import AdapterRegistry
    from clara_ray.db.engine import Database
    from clara_ray.model.tokenizer import load_tokenizer
    from clara_ray.resources import load_jsonl

    lora = client.post("/api/training/jobs", json=job("bau-lora", epochs=2, max_steps=None, learning_rate=0.003))
    qlora = client.post("/api/training/jobs", json=job("bau-qlora", trainer_type="QLORA", qlora_bits=4, max_steps=6))
    assert lora.status_code == 201 and qlora.status_code == 201, (lora.text, qlora.text)
    views = [wait_status(client, r.json()["job_id"], {"COMPLETED", "FAILED"}) for r in (lora, qlora)]
    for v in views:
        assert v["status"] == "COMPLETED", v["error"]
        assert v["adapter_version_id"] and v["metrics"]["adapter"].endswith("@v1")
        assert v["metrics"]["ppl_after"] < v["metrics"]["ppl_before"]
        assert v["step"] == v["total_steps"] > 0 and v["started_at"] and v["finished_at"]

    # The registered LoRA adapter is a standard PEFT folder that lowers held-out perplexity.
    reg = AdapterRegistry(Database(ray_settings.storage.database_url))
    version = reg.resolve("bau-lora")
    assert version.trainer_type == "LORA" and version.rank == 16 and version.metrics["ppl_dev"] > 0
    tok = load_tokenizer(base_model)
    texts = [tok.apply_chat_template([{"role": "user", "content": r["prompt"]},
                                      {"role": "assistant", "content": r["response"]}], tokenize=False)
             for r in load_jsonl(qa_path()) if r["domain"] == "baurecht"][:40]
    base = AutoModelForCausalLM.from_pretrained(base_model)
    ppl_base = val_perplexity(base, tok, texts)
    tuned = PeftModel.from_pretrained(base, version.uri)
    ppl_tuned = val_perplexity(tuned, tok, texts)
    assert ppl_tuned < ppl_base * 0.95, (ppl_base, ppl_tuned)
    assert reg.resolve("bau-qlora").trainer_type == "QLORA"


@pytest.mark.timeout(300)
def test_cancel_running_job_stops_its_workers(client, ray_cluster, ray_settings):
    import ray

    cpus_idle = ray.available_resources().get("CPU", 0)
    r = client.post("/api/training/jobs", json=job("bau-cancel", max_steps=None, epochs=500))
    job_id = r.json()["job_id"]
    deadline = time.time() + 180
    while time.time() < deadline:  # wait until training steps are flowing
        v = client.get(f"/api/training/jobs/{job_id}").json()
        if v["step"] > 0:
            break
        assert v["status"] in ("QUEUED", "RUNNING"), v
        time.sleep(0.5)
    t0 = time.time()
    out = client.delete(f"/api/training/jobs/{job_id}")
    assert out.status_code == 200 and out.json()["status"] == "CANCELLED", out.text
    assert time.time() - t0 < 30
    with pytest.raises(ValueError):
        ray.get_actor(f"clara-train-{job_id}", namespace=ray_settings.ray.namespace)
    # The Train workers' CPUs return to the pool: the worker processes are gone, not just the job row.
    deadline = time.time() + 30
    while ray.available_resources().get("CPU", 0) < cpus_idle - 1e-6 and time.time() < deadline:
        time.sleep(0.5)
    assert ray.available_resources().get("CPU", 0) >= cpus_idle - 1e-6
    assert client.delete(f"/api/training/jobs/{job_id}").status_code == 409  # already CANCELLED


@pytest.mark.timeout(300)
def test_broken_data_fails_readably_and_retry_makes_new_attempt(client, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "nur eine Frage ohne Antwort, aber lang genug für den Filter hier"}\n'
                   "{not json\n" + json.dumps({"title": "kein Textfeld"}) + "\n")
    r = client.post("/api/training/jobs", json={"name": "broken", "data_paths": [str(bad)]})
    assert r.status_code == 201
    v = wait_status(client, r.json()["job_id"], {"FAILED", "COMPLETED"})
    assert v["status"] == "FAILED"
    assert "no valid training records" in v["error"] and "bad.jsonl" in v["error"], v["error"]
    assert "Traceback" not in v["error"]
    retry = client.post(f"/api/training/jobs/{v['job_id']}/retry")
    assert retry.status_code == 201
    assert retry.json()["attempt"] == 2 and retry.json()["retry_of"] == v["job_id"]
    wait_status(client, retry.json()["job_id"], {"FAILED"})


@pytest.mark.timeout(300)
def test_websocket_streams_job_events_in_order(api_url, client):
    from websockets.sync.client import connect

    ws_url = api_url.replace("http", "ws") + "/api/training/ws"
    with connect(ws_url, open_timeout=30) as ws:
        r = client.post("/api/training/jobs", json=job("bau-ws", max_steps=4))
        job_id = r.json()["job_id"]
        statuses, metric_steps, seqs = [], [], []
        deadline = time.time() + 240
        while time.time() < deadline:
            e = json.loads(ws.recv(timeout=60))
            if e["type"] == "heartbeat" or e["data"].get("job_id") != job_id:
                continue
            seqs.append(e["seq"])
            if e["type"] == "job_update":
                statuses.append(e["data"]["status"])
                if e["data"]["status"] in ("COMPLETED", "FAILED"):
                    break
            elif e["data"].get("kind") == "step":
                metric_steps.append(e["data"]["step"])
    assert statuses == ["PENDING", "QUEUED", "RUNNING", "COMPLETED"]
    assert metric_steps == sorted(metric_steps) and metric_steps[-1] == 4
    assert seqs == sorted(seqs)


@pytest.mark.timeout(120)
def test_bad_requests_get_clear_4xx(client):
    r = client.post("/api/training/jobs", json={"name": "../etc", "data_paths": [QA], "epochs": 0})
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["detail"]}
    assert {"name", "epochs"} <= fields
    r = client.post("/api/training/jobs", json={"name": "ok-name"})
    assert r.status_code == 422 and "dataset_id or data_paths" in r.text
    assert client.get("/api/training/jobs/does-not-exist").status_code == 404
    assert client.post("/api/training/jobs", json={"name": "x1", "dataset_id": "nope"}).status_code == 404
    r = client.post("/api/training/jobs", json={"name": "never", "trainer_type": "CONTINUOUS", "data_paths": [QA]})
    assert r.status_code == 404 and "unknown adapter" in r.json()["detail"]
    assert client.get("/api/training/jobs", params={"status": "BOGUS"}).status_code == 422
    page = client.get("/api/training/jobs", params={"limit": 2}).json()
    assert page["limit"] == 2 and len(page["items"]) <= 2 and page["total"] >= len(page["items"])
    assert client.get("/health").json() == {"status": "ok"}
