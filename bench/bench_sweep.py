"""A sweep's overhead per trial against a single job, on the bundled tiny model and Q&A, in one run.

Runs, on one local Ray cluster: (a) `--jobs` plain jobs (Ray Train, one after another) with the same recipe, and
(b) one sweep of as many trials (grid over learning rates, one trial at a time, no early stopping, so every trial
trains as long as a job). Prints wall time per job and per trial, their ratio, and what a trial adds (Tune's trial
actor and bookkeeping, trial reports, fetching the best checkpoint, deleting the trials' files). Data preparation is
timed apart: a sweep prepares its data once for all trials.

    python -m bench.bench_sweep                 # 3 jobs vs a 3-trial sweep
    python -m bench.bench_sweep --jobs 4 --epochs 2
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

RATES = (3e-3, 2e-3, 1e-3, 5e-4, 3e-4, 2e-4, 1e-4, 5e-5)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=3, help="plain jobs, and trials of the sweep (at most 8)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--records", type=int, default=80)
    args = p.parse_args(argv)
    n = min(args.jobs, len(RATES))

    from clara_ray.config import load_settings
    from clara_ray.ray_runtime import init_ray
    from clara_ray.resources import load_jsonl, qa_path
    from clara_ray.training.pipeline import TrainingPipeline
    from clara_ray.training.spec import TrainingJobRequest

    root = tempfile.mkdtemp(prefix="clara-bench-sweep-")
    data = os.path.join(root, "data.jsonl")
    rows = [r for r in load_jsonl(qa_path()) if r["domain"] == "baurecht"][: args.records]
    with open(data, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    settings = load_settings(storage={"data_dir": root}, ray={"num_cpus": 2, "namespace": "bench-sweep"},
                             training={"data_roots": [root], "warm_pool_size": 0})
    init_ray(settings)
    pipeline = TrainingPipeline(settings)

    job_seconds, prepare = [], []
    for i in range(n):
        req = TrainingJobRequest(name="benchjob", data_paths=[data], epochs=args.epochs, learning_rate=RATES[i])
        t0 = time.perf_counter()
        res = pipeline.run(f"job{i}", req)
        job_seconds.append(time.perf_counter() - t0)
        prepare.append(res.metrics["prepare_seconds"])

    req = TrainingJobRequest(name="benchsweep", data_paths=[data], epochs=args.epochs,
                             sweep={"space": {"learning_rate": list(RATES[:n])}, "search": "grid",
                                    "max_concurrent_trials": 1, "early_stopping": False})
    t0 = time.perf_counter()
    res = pipeline.run("sweep", req)
    sweep_seconds = time.perf_counter() - t0
    sweep_prepare = res.metrics["prepare_seconds"]

    job_train = sum(j - p for j, p in zip(job_seconds, prepare)) / n
    per_trial = (sweep_seconds - sweep_prepare) / n
    print(f"tiny model, {len(rows)} records, {args.epochs} epochs, {n} runs each, one at a time, 2 CPUs\n")
    print("| | wall s | data prep s | per run, without prep, s |")
    print("|---|---|---|---|")
    print(f"| {n} plain jobs | {sum(job_seconds):.1f} | {sum(prepare):.1f} ({n}x) | {job_train:.1f} |")
    print(f"| sweep of {n} trials | {sweep_seconds:.1f} | {sweep_prepare:.1f} (once) | {per_trial:.1f} |")
    print(f"\nper trial / per job: {per_trial / job_train:.2f}x; a trial adds {per_trial - job_train:+.1f} s; "
          f"the whole sweep vs the jobs: {sweep_seconds / sum(job_seconds):.2f}x")


if __name__ == "__main__":
    main()
