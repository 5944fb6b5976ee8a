"""Benchmark the loop: durable feedback ingest (through the API and straight into the actor) and trigger -> serving latency.

Run: `python -m bench.bench_learning`. Starts its own local Ray + Serve app in a temp data dir.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import tempfile
import time

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def samples(alias: str, n: int, tag: str) -> list[dict]:
    return [{"prompt": f"{tag} Frage {i}: Ist das Vorhaben Nr. {i} nach § 34 BauGB zulässig?",
             "response": f"Das Vorhaben Nr. {i} ist zulässig, wenn es sich in die nähere Umgebung einfügt ({tag}).",
             "rating": 0.9, "adapter": alias, "source": "bench"} for i in range(n)]


def main() -> None:
    import httpx
    import ray
    from ray import serve

    from actors.learning_buffer import BUFFER_NAME
    from clara_ray.config import load_settings
    from clara_ray.ray_runtime import init_ray
    from deployments.app import build
    from clara_ray.demo import DEMO_OVERRIDES, follow_job, write_demo_data

    # Triggers off for the ingest part (huge batch size, long interval); the latency part lowers them.
    overrides = {**DEMO_OVERRIDES, "storage": {"data_dir": tempfile.mkdtemp(prefix="clara-bench-")},
                 "learning": {**DEMO_OVERRIDES["learning"], "min_batch_size": 10**6, "buffer_size": 10**6}}
    settings = load_settings(**overrides)
    init_ray(settings, include_dashboard=False)
    serve.start(http_options={"host": "127.0.0.1", "port": 8011})
    serve.run(build(overrides), name="clara", route_prefix="/")
    api = "http://127.0.0.1:8011"
    with httpx.Client(base_url=api, timeout=600) as c:
        initial, good, _ = write_demo_data(settings.storage.data_dir / "demo")
        job = c.post("/api/training/jobs", json={"name": "bau", "data_paths": [str(initial)], "epochs": 3,
                                                 "learning_rate": 3e-3, "activate": "always", "domain": "baurecht"}).json()
        assert follow_job(c, job["job_id"])["status"] == "COMPLETED"

        # Ingest through the API: 4 clients, batches of 500.
        n_api = 20000
        batches = [samples("bau", 500, f"api{b}") for b in range(n_api // 500)]
        t0 = time.perf_counter()
        with cf.ThreadPoolExecutor(4) as pool:
            def post(b):
                with httpx.Client(base_url=api, timeout=600) as cc:
                    return cc.post("/api/feedback/batch", json={"items": b}).json()["accepted"]
            accepted = sum(pool.map(post, batches))
        api_rate = accepted / (time.perf_counter() - t0)

        # Straight into the actor: batches of 1000.
        actor = ray.get_actor(BUFFER_NAME, namespace=settings.ray.namespace)
        n_direct = 20000
        t0 = time.perf_counter()
        direct = 0
        for b in range(n_direct // 1000):
            direct += sum(r["accepted"] for r in ray.get(actor.add_feedback.remote(samples("bau", 1000, f"dir{b}"))))
        direct_rate = direct / (time.perf_counter() - t0)
        print(f"durable ingest through the API (4 clients x 500/batch): {api_rate:8.0f} samples/s ({accepted} accepted)")
        print(f"durable ingest straight into the actor (1000/batch):     {direct_rate:8.0f} samples/s ({direct})")

    # Loop latency on a fresh deployment with the demo's triggers.
    serve.shutdown()
    ray.shutdown()
    overrides = {**DEMO_OVERRIDES, "storage": {"data_dir": tempfile.mkdtemp(prefix="clara-bench-")}}
    settings = load_settings(**overrides)
    init_ray(settings, include_dashboard=False)
    serve.start(http_options={"host": "127.0.0.1", "port": 8011})
    serve.run(build(overrides), name="clara", route_prefix="/")
    with httpx.Client(base_url=api, timeout=600) as c:
        initial, good, _ = write_demo_data(settings.storage.data_dir / "demo")
        job = c.post("/api/training/jobs", json={"name": "baurecht", "data_paths": [str(initial)], "epochs": 3,
                                                 "learning_rate": 3e-3, "activate": "always"}).json()
        assert follow_job(c, job["job_id"])["status"] == "COMPLETED"
        chat = "<|begin_of_text|><|user|>Brauche ich eine Baugenehmigung?<|end_of_text|><|assistant|>"
        c.post("/api/serving/generate", json={"prompt": chat, "adapter": "baurecht", "max_tokens": 4})
        t_trigger = time.perf_counter()
        c.post("/api/feedback/batch", json={"items": good})  # 40 >= min_batch_size: the size trigger fires
        while True:
            out = c.post("/api/serving/generate", json={"prompt": chat, "adapter": "baurecht", "max_tokens": 4}).json()
            cyc = c.get("/api/learning/cycles").json()["items"]
            if out["model"] == "baurecht@v2" or (cyc and cyc[0]["status"] in ("rejected", "failed")):
                break
            time.sleep(0.25)
        latency = time.perf_counter() - t_trigger
        d = cyc[0]["durations"]
        print(f"loop latency, trigger -> new version serving: {latency:.1f} s  (decision: {cyc[0]['status']})")
        print("  breakdown: " + ", ".join(f"{k} {v:.1f} s" for k, v in d.items()) +
              f", alias flip -> first response from it {latency - d.get('total', 0):.1f} s")
    serve.shutdown()
    ray.shutdown()


if __name__ == "__main__":
    main()
