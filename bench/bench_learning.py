"""Benchmark the loop: durable feedback ingest (through the API and straight into the actor) and trigger -> serving latency.

Run: `python -m bench.bench_learning [--skip-ingest] [--paths warm,cold]`. Each part starts its own local Ray +
Serve app in a temp data dir; the latency part runs once with the warm trainer (training.warm_pool_size 1) and once
on the Ray Train path (0), and also times a user job from submit to adapter registered.
"""

from __future__ import annotations

import asyncio
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

    from actors.clients import LearningBufferClient
    from actors.learning_buffer import BUFFER_NAME
    from clara_ray.config import load_settings
    from clara_ray.learning.feedback import FeedbackSample
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

        # Straight into the actor through its typed client: batches of 1000.
        buffer = LearningBufferClient(ray.get_actor(BUFFER_NAME, namespace=settings.ray.namespace))
        n_direct = 20000
        t0 = time.perf_counter()
        direct = 0
        for b in range(n_direct // 1000):
            batch = [FeedbackSample(**x) for x in samples("bau", 1000, f"dir{b}")]
            direct += sum(r.accepted for r in asyncio.run(buffer.add_feedback(batch)))
        direct_rate = direct / (time.perf_counter() - t0)
        print(f"durable ingest through the API (4 clients x 500/batch): {api_rate:8.0f} samples/s ({accepted} accepted)")
        print(f"durable ingest straight into the actor (1000/batch):     {direct_rate:8.0f} samples/s ({direct})")

    serve.shutdown()
    ray.shutdown()


def latency(warm_pool_size: int) -> dict:
    """On a fresh deployment with the demo's triggers: a user job submit -> adapter registered, then trigger ->
    new version serving, with the cycle's phases. `warm_pool_size` 0 = the Ray Train path for both."""
    import httpx
    import ray
    from ray import serve

    from actors.warm_trainer import WARM_PREFIX
    from clara_ray.config import load_settings
    from clara_ray.demo import DEMO_OVERRIDES, follow_job, write_demo_data
    from clara_ray.ray_runtime import init_ray
    from deployments.app import build

    api = "http://127.0.0.1:8011"
    overrides = {**DEMO_OVERRIDES, "storage": {"data_dir": tempfile.mkdtemp(prefix="clara-bench-")},
                 "training": {"warm_pool_size": warm_pool_size}}
    settings = load_settings(**overrides)
    init_ray(settings, include_dashboard=False)
    serve.start(http_options={"host": "127.0.0.1", "port": 8011})
    serve.run(build(overrides), name="clara", route_prefix="/")
    out: dict = {"path": "warm" if warm_pool_size else "cold (Ray Train)"}
    if warm_pool_size:  # a warm cluster: the trainer has loaded its base
        warm = ray.get_actor(WARM_PREFIX + "0", namespace=settings.ray.namespace)
        out["warm_load_s"] = ray.get(warm.ready.remote())["load_seconds"]
    with httpx.Client(base_url=api, timeout=600) as c:
        initial, good, _ = write_demo_data(settings.storage.data_dir / "demo")
        t_submit = time.time()
        job = c.post("/api/training/jobs", json={"name": "baurecht", "data_paths": [str(initial)], "epochs": 3,
                                                 "learning_rate": 3e-3, "activate": "always"}).json()
        done = follow_job(c, job["job_id"])
        assert done["status"] == "COMPLETED", done
        m = done["metrics"]
        out.update(runner=m.get("runner"), job_registered_s=m["t_registered"] - t_submit,
                   job_train_s=m["train_seconds"], job_fixed_s=m["t_registered"] - t_submit - m["train_seconds"])
        chat = "<|begin_of_text|><|user|>Brauche ich eine Baugenehmigung?<|end_of_text|><|assistant|>"
        c.post("/api/serving/generate", json={"prompt": chat, "adapter": "baurecht", "max_tokens": 4})
        t_trigger = time.perf_counter()
        c.post("/api/feedback/batch", json={"items": good})  # 40 >= min_batch_size: the size trigger fires
        out["feedback_post_s"] = time.perf_counter() - t_trigger
        while True:
            served = c.post("/api/serving/generate", json={"prompt": chat, "adapter": "baurecht", "max_tokens": 4}).json()
            cyc = c.get("/api/learning/cycles").json()["items"]
            if served["model"] == "baurecht@v2" or (cyc and cyc[0]["status"] in ("rejected", "failed")):
                break
            time.sleep(0.1)
        out["latency_s"] = time.perf_counter() - t_trigger
        out["decision"] = cyc[0]["status"]
        out["durations"] = {k: v for k, v in cyc[0]["durations"].items() if isinstance(v, (int, float))}
        cycle_job = c.get(f"/api/training/jobs/{cyc[0]['job_id']}").json()["metrics"]
        out["cycle_runner"] = cycle_job.get("runner")
        out["cycle_job"] = {k: round(cycle_job[k], 2) for k in ("prepare_seconds", "fit_seconds", "train_seconds",
                                                                "register_seconds") if k in cycle_job}
    serve.shutdown()
    ray.shutdown()
    return out


def report(r: dict) -> None:
    d = r["durations"]
    print(f"[{r['path']}] user job (170 records, 3 epochs): submit -> adapter registered {r['job_registered_s']:.1f} s"
          f" = training {r['job_train_s']:.1f} s + fixed cost {r['job_fixed_s']:.1f} s (runner {r['runner']})"
          + (f"; warm trainer base load at start {r['warm_load_s']:.1f} s" if "warm_load_s" in r else ""))
    print(f"[{r['path']}] loop latency, trigger -> new version serving: {r['latency_s']:.1f} s"
          f"  (decision: {r['decision']}, cycle job runner {r['cycle_runner']})")
    print(f"[{r['path']}]   breakdown: feedback POST {r['feedback_post_s']:.1f} s; cycle "
          + ", ".join(f"{k} {v:.2f} s" for k, v in d.items())
          + f"; cycle job {r['cycle_job']}; alias flip -> first response from it "
            f"{r['latency_s'] - d.get('total', 0) - r['feedback_post_s']:.1f} s (incl. trigger pickup)")


def run(argv: list[str] | None = None) -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-ingest", action="store_true", help="only the latency part")
    ap.add_argument("--paths", default="warm,cold", help="latency on the warm path, the cold one, or both")
    args = ap.parse_args(argv)
    if not args.skip_ingest:
        main()
    results = [latency(1 if p == "warm" else 0) for p in args.paths.split(",")]
    for r in results:
        report(r)


if __name__ == "__main__":
    run()
