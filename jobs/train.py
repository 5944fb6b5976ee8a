"""Train one adapter: `ray job submit --working-dir . -- python -m jobs.train --config configs/train/lora.yaml`.

Runs the job in this driver (Ray Data + Ray Train on the cluster), records it in the job table like an
API-submitted job, and prints where the adapter landed and its metrics. `--submit` instead hands the
job to the running deployment's job manager (queue, priorities, concurrency cap) and follows it.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

import yaml


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m jobs.train", description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True, type=Path, help="job YAML (fields of TrainingJobRequest)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a job field, e.g. --set epochs=1 (YAML value syntax)")
    p.add_argument("--submit", action="store_true", help="queue through the deployment's job manager instead")
    p.add_argument("--json", action="store_true", help="print the result as JSON only")
    return p.parse_args(argv)


def load_request(path: Path, overrides: list[str]):
    from pydantic import ValidationError

    from clara_ray.training.spec import TrainingJobRequest

    if not path.is_file():
        sys.exit(f"error: job config {path} not found")
    data = yaml.safe_load(path.read_text()) or {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            sys.exit(f"error: --set {item!r}: expected KEY=VALUE")
        data[key.strip()] = yaml.safe_load(value)
    try:
        return TrainingJobRequest.model_validate(data)
    except ValidationError as e:
        fields = "; ".join(f"{'.'.join(map(str, x['loc'])) or '<root>'}: {x['msg']}" for x in e.errors())
        sys.exit(f"error: invalid job config {path}: {fields}")


def _interrupt(signum: int, _frame) -> None:  # noqa: ANN001
    """SIGTERM (`ray job stop`) as KeyboardInterrupt: a blocking ray.get (Ray Train's fit) turns only that into an
    interruption; any other exception raised by a signal handler there is swallowed, and Ray kills us 3 s later."""
    raise KeyboardInterrupt(signal.Signals(signum).name)


def run_here(req, settings) -> dict:
    from clara_ray.db.engine import Database
    from clara_ray.training.job_store import JobStore
    from clara_ray.training.manager import readable_error
    from clara_ray.training.pipeline import TrainingPipeline
    from clara_ray.training.spec import JobStatus

    db = Database(settings.storage.database_url)
    store = JobStore(db)
    job = store.create(req, created_by="jobs.train")
    store.transition(job.id, JobStatus.QUEUED)
    store.transition(job.id, JobStatus.RUNNING)
    print(f"job {job.id}: training {req.name} ({req.trainer_type.value}) ...", flush=True)
    try:
        res = TrainingPipeline(settings, db).run(job.id, req, on_event=lambda e: print("  data:", e, flush=True))
    except KeyboardInterrupt as e:  # `ray job stop` (SIGTERM, see main) or Ctrl-C: the user ended it, it did not fail
        how = str(e) or "SIGINT"
        store.transition(job.id, JobStatus.CANCELLED, error=f"stopped ({how}: ray job stop or Ctrl-C)")
        print(f"job {job.id}: cancelled ({how})", flush=True)
        raise SystemExit(128 + signal.Signals[how].value) from None
    except BaseException as e:
        store.transition(job.id, JobStatus.FAILED, error=readable_error(e))
        raise
    store.transition(job.id, JobStatus.COMPLETED, adapter_version_id=res.version_id, step=res.metrics.get("step", 0),
                     metrics={**res.metrics, "adapter": res.ref, "adapter_uri": res.uri})
    return {"job_id": job.id, "adapter": res.ref, "version_id": res.version_id, "uri": res.uri,
            "activated": res.activated, "metrics": res.metrics, "data": res.data_stats}


def submit(req, settings) -> dict:
    import ray

    from actors.job_manager import get_or_create_job_manager

    manager = get_or_create_job_manager(settings, replace_stale=False)  # attach; only a deploy replaces it
    job = ray.get(manager.create.remote(req, "jobs.train"))
    print(f"job {job['job_id']} queued", flush=True)
    return ray.get(manager.wait_finished.remote(job["job_id"], 24 * 3600))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from clara_ray.config import ConfigError, load_settings
    from clara_ray.ray_runtime import RayClusterUnavailable, init_ray

    req = load_request(args.config, args.set)
    try:
        settings = load_settings()
    except ConfigError as e:
        sys.exit(f"error: {e}")
    try:
        init_ray(settings)
    except RayClusterUnavailable as e:
        sys.exit(f"error: {e}")
    signal.signal(signal.SIGTERM, _interrupt)  # after ray.init, whose own SIGTERM handler exits unrecorded
    result = submit(req, settings) if args.submit else run_here(req, settings)
    if args.json:
        print(json.dumps(result, default=str))
    else:
        m = result.get("metrics", {})
        print(f"\nadapter {result.get('adapter')} -> {result.get('uri') or m.get('adapter_uri')}")
        print(f"  validation perplexity: {m.get('ppl_before', float('nan')):.2f} (before) -> "
              f"{m.get('ppl_after', float('nan')):.2f} (after); steps {m.get('step')}, "
              f"{m.get('tokens_per_s', 0):.0f} tokens/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
