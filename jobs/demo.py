"""The demo on embedded defaults: local Ray + Serve app, tiny base model, a real training job, then serving and the loop.

`python -m jobs.demo [--keep-running]` (the README's run command wraps it). Prints live progress and
a summary; stops the local cluster at the end unless --keep-running.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def follow_job(client, job_id: str, timeout: float = 600) -> dict:
    """Poll the job and print its progress line until it finishes."""
    deadline, last = time.time() + timeout, ""
    while time.time() < deadline:
        v = client.get(f"/api/training/jobs/{job_id}").json()
        m = v.get("metrics") or {}
        line = f"  {v['status']:<9} step {v['step']}/{v['total_steps'] or '?'}"
        if "loss" in m:
            line += f"  loss {m['loss']:.3f}"
        if "perplexity" in m:
            line += f"  val ppl {m['perplexity']:.1f}"
        if line != last:
            print(line, flush=True)
            last = line
        if v["status"] in ("COMPLETED", "FAILED", "CANCELLED"):
            return v
        time.sleep(1)
    raise TimeoutError(f"job {job_id} did not finish in {timeout}s")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--keep-running", action="store_true", help="leave Ray and the API up after the demo")
    p.add_argument("--port", type=int, default=None, help="HTTP port of the API (default from config)")
    args = p.parse_args(argv)

    import httpx
    import ray
    from ray import serve

    from clara_ray.config import load_settings
    from clara_ray.ray_runtime import init_ray
    from clara_ray.resources import qa_path
    from clara_ray.training.pipeline import base_model_path
    from deployments.app import build

    t0 = time.time()
    settings = load_settings()
    port = args.port or settings.api.port
    say(f"starting a local Ray cluster (RAY_AUTH_MODE={os.environ.get('RAY_AUTH_MODE', settings.ray.auth_mode)})")
    ctx = init_ray(settings, include_dashboard=True)
    dashboard = getattr(ctx, "dashboard_url", None) or "disabled"
    say(f"building the tiny base model -> {base_model_path(settings)}")
    say(f"deploying the Serve app on http://{settings.api.host}:{port}")
    serve.start(http_options={"host": settings.api.host, "port": port})
    serve.run(build({}), name="clara", route_prefix="/")
    api = f"http://{settings.api.host}:{port}"
    summary: list[str] = []
    with httpx.Client(base_url=api, timeout=120) as client:
        say("training the initial 'baurecht' LoRA adapter on the bundled corpus (Ray Data + Ray Train)")
        job = client.post("/api/training/jobs", json={
            "name": "baurecht", "trainer_type": "LORA", "data_paths": [str(qa_path())],
            "record_filter": {"domain": "baurecht"}, "domain": "baurecht", "epochs": 3, "learning_rate": 0.003,
            "description": "Baurecht: BauGB, Bauordnung, Baugenehmigung", "activate": "always"}).json()
        if "job_id" not in job:
            say(f"job was not accepted: {job}")
            return 1
        done = follow_job(client, job["job_id"])
        if done["status"] != "COMPLETED":
            say(f"training failed: {done['error']}")
            return 1
        m = done["metrics"]
        summary.append(f"adapter {m['adapter']} at {m['adapter_uri']}")
        summary.append(f"  validation perplexity {m['ppl_before']:.1f} (base) -> {m['ppl_after']:.1f} (adapter), "
                       f"{done['step']} steps, {m['tokens_per_s']:.0f} tokens/s")

    print("\n" + "=" * 72)
    print("CLARA on Ray demo summary")
    for line in summary:
        print("  " + line)
    print(f"  API:        {api}   (OpenAPI docs: {api}/docs)")
    print(f"  Dashboard:  {'http://' + dashboard if dashboard and not dashboard.startswith('http') else dashboard}")
    print(f"  took {time.time() - t0:.0f} s")
    print("=" * 72)
    if args.keep_running:
        say("services stay up (Ctrl-C to stop)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    serve.shutdown()
    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
