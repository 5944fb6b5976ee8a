"""The demo on embedded defaults: Ray + Serve app, tiny base model, a real adapter, serving, and the closed loop.

`python -m jobs.demo [--keep-running] [--verbose]` (the README's run command wraps it): trains an initial
adapter, serves it, sends good feedback (a retraining cycle promotes a better version), then poisoned feedback
(the quality filter refuses noise, spam and off-domain text; the gate rejects what gets through; the active
version stays), and prints a summary. Recipe and gate run on the shipped defaults. Stops the local cluster at the end
unless --keep-running. Only the demo's own lines reach the terminal; Ray, Serve and library logs go to
`<data_dir>/demo/logs/demo.log` (--verbose shows them). SIGINT (Ctrl-C) and SIGTERM stop it cleanly, in the
foreground or in the background.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--keep-running", action="store_true", help="leave Ray and the API up after the demo")
    p.add_argument("--port", type=int, default=None, help="HTTP port of the API (default from config)")
    p.add_argument("--verbose", action="store_true", help="show Ray, Serve and library logs on the terminal too")
    args = p.parse_args(argv)

    from clara_ray import stop_signals
    from clara_ray.config import ConfigError
    from clara_ray.demo import demo_settings, say, use_terminal
    from clara_ray.log_capture import capture_to_file

    try:
        settings = demo_settings()  # <data_dir>/demo, fresh for every run
    except ConfigError as e:
        sys.exit(f"error: {e}")
    stop_signals.install()
    log_path = settings.storage.data_dir / "logs" / "demo.log"
    if not args.verbose:
        os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")  # inherited by the local cluster's workers
        os.environ.setdefault("RAY_COLOR_PREFIX", "0")  # plain text in the log file
        use_terminal(capture_to_file(log_path))
        say(f"logs of Ray, Serve and the libraries go to {log_path} (--verbose shows them here)")
    rc = 1
    try:
        rc = _run(args, settings)
    except stop_signals.StopRequested as e:
        say(f"{e.name} received: stopping Serve and Ray (send it again to force)")
        rc = e.exit_code
    except Exception as e:  # noqa: BLE001 - the traceback goes to the log, one line to the terminal
        traceback.print_exc()
        say(f"demo failed: {type(e).__name__}: {e}")
    finally:
        with stop_signals.signals_kill():
            _shutdown()
    say("stopped: Serve and the local Ray cluster are shut down" + ("" if args.verbose else f"; logs in {log_path}"))
    return rc


def _run(args: argparse.Namespace, settings) -> int:
    import httpx
    from ray import serve

    from clara_ray.demo import run_demo, say, show
    from clara_ray import stop_signals
    from clara_ray.ray_runtime import init_ray
    from clara_ray.training.pipeline import base_model_path
    from deployments.app import build

    t0 = time.time()
    port = args.port or settings.api.port
    say(f"starting a local Ray cluster (RAY_AUTH_MODE={os.environ.get('RAY_AUTH_MODE', settings.ray.auth_mode)})")
    ctx = init_ray(settings, include_dashboard=True)  # ray.address null: a fresh local cluster of its own
    stop_signals.install()  # ray.init puts its own (aborting) SIGTERM handler on the driver: ours must win
    dashboard = getattr(ctx, "dashboard_url", "") or ""
    say(f"building the tiny base model (cached) -> {base_model_path(settings)}")
    say(f"deploying the Serve app (API ingress + LoRA replica) on http://{settings.api.host}:{port}")
    serve.start(http_options={"host": settings.api.host, "port": port})
    serve.run(build(settings.model_dump(mode="json")), name="clara", route_prefix="/")
    api = f"http://{settings.api.host}:{port}"
    summary: list[str] = []
    with httpx.Client(base_url=api, timeout=300) as client:
        rc = run_demo(client, settings, summary)

    show("\n" + "=" * 100)
    show("CLARA on Ray demo summary")
    for line in summary:
        show("  " + line)
    show(f"  Console    {api}/console/")
    show(f"  API        {api}   docs {api}/docs   OpenAI base URL {api}/v1")
    show(f"  Dashboard  {dashboard if dashboard.startswith('http') else 'http://' + dashboard if dashboard else 'off'}")
    show(f"  finished in {time.time() - t0:.0f} s")
    show("=" * 100)
    if args.keep_running:
        say("services stay up; Ctrl-C (or SIGTERM) stops them")
        try:
            while True:
                time.sleep(3600)
        except stop_signals.StopRequested as e:
            say(f"{e.name} received: stopping Serve and Ray")
    return rc


def _shutdown() -> None:
    """Shut Serve down (if it was started) and then the local Ray cluster this process started."""
    if "ray" not in sys.modules:
        return
    import ray

    if ray.is_initialized():
        from ray import serve

        try:
            serve.shutdown()
        except Exception:  # noqa: BLE001 - Ray is going down anyway; the log has the reason
            traceback.print_exc()
    ray.shutdown()


if __name__ == "__main__":
    sys.exit(main())
