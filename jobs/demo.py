"""The demo on embedded defaults: Ray + Serve app, tiny base model, a real adapter, serving, and the closed loop.

`python -m jobs.demo [--keep-running]` (the README's run command wraps it): trains an initial adapter,
serves it, sends good feedback (a retraining cycle promotes a better version), then poisoned feedback
(the gate rejects it and the active version stays), and prints a summary. Stops the local cluster at
the end unless --keep-running.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--keep-running", action="store_true", help="leave Ray and the API up after the demo")
    p.add_argument("--port", type=int, default=None, help="HTTP port of the API (default from config)")
    args = p.parse_args(argv)

    import httpx
    import ray
    from ray import serve

    from clara_ray.config import ConfigError, load_settings
    from clara_ray.demo import DEMO_OVERRIDES, run_demo, say
    from clara_ray.ray_runtime import init_ray
    from clara_ray.training.pipeline import base_model_path
    from deployments.app import build

    t0 = time.time()
    try:
        settings = load_settings(**DEMO_OVERRIDES)
    except ConfigError as e:
        sys.exit(f"error: {e}")
    port = args.port or settings.api.port
    say(f"starting a local Ray cluster (RAY_AUTH_MODE={os.environ.get('RAY_AUTH_MODE', settings.ray.auth_mode)})")
    ctx = init_ray(settings, include_dashboard=True)
    dashboard = getattr(ctx, "dashboard_url", "") or ""
    say(f"building the tiny base model (cached) -> {base_model_path(settings)}")
    say(f"deploying the Serve app (API ingress + LoRA replica) on http://{settings.api.host}:{port}")
    serve.start(http_options={"host": settings.api.host, "port": port})
    serve.run(build(DEMO_OVERRIDES), name="clara", route_prefix="/")
    api = f"http://{settings.api.host}:{port}"
    summary: list[str] = []
    with httpx.Client(base_url=api, timeout=300) as client:
        rc = run_demo(client, settings, summary)

    print("\n" + "=" * 100)
    print("CLARA on Ray demo summary")
    for line in summary:
        print("  " + line)
    print(f"  Console    {api}/console/")
    print(f"  API        {api}   docs {api}/docs   OpenAI base URL {api}/v1")
    print(f"  Dashboard  {dashboard if dashboard.startswith('http') else 'http://' + dashboard if dashboard else 'off'}")
    print(f"  finished in {time.time() - t0:.0f} s")
    print("=" * 100, flush=True)
    if args.keep_running:
        say("services stay up; Ctrl-C stops them")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    serve.shutdown()
    ray.shutdown()
    return rc


if __name__ == "__main__":
    sys.exit(main())
