"""Benchmark: the Ray Train job path vs a plain single-process peft loop, same model, data and steps.

Prints steady-state tokens/s of each (first step excluded), their ratio, and the Ray path's fixed cost
(submit -> first step, last step -> adapter registered). Run: `python -m bench.bench_training`.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def steady(tokens: int, steps: int, t_first: float, t_last: float) -> float:
    # Tokens after the first step over the time after it: excludes warm-up and one-off allocation.
    return tokens * (steps - 1) / steps / max(t_last - t_first, 1e-9)


def plain_loop(plan, data) -> dict:
    import torch

    from clara_ray.training.loop import LoopState, make_optimizer, train_epoch
    from clara_ray.training.modeling import build_model

    torch.set_num_threads(max(1, int(plan.cpus_per_worker)))
    model = build_model(plan, torch.device("cpu"))
    opt = make_optimizer(model, plan.learning_rate)
    state, times = LoopState(), []
    while state.step < plan.max_steps:
        train_epoch(model, opt, data.train_blocks, state, batch_size=plan.batch_size, grad_accum=1,
                    total_steps=plan.max_steps, peak_lr=plan.learning_rate, seed=plan.seed,
                    device=torch.device("cpu"), on_step=lambda m: times.append(time.time()))
    return {"tokens": state.tokens, "steps": state.step, "t_first": times[0], "t_last": times[-1]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--batch-size", type=int, default=8)
    args = p.parse_args()

    from clara_ray.config import load_settings
    from clara_ray.ray_runtime import init_ray
    from clara_ray.resources import qa_path
    from clara_ray.training.pipeline import TrainingPipeline, base_model_path
    from clara_ray.training.spec import TrainingJobRequest, resolve_plan

    root = tempfile.mkdtemp(prefix="clara-bench-")
    settings = load_settings(storage={"data_dir": root}, ray={"num_cpus": 2},
                             training={"cpus_per_worker": 1.0, "checkpoint_every_steps": 10**6})
    init_ray(settings, include_dashboard=False)
    req = TrainingJobRequest(name="bench", data_paths=[str(qa_path())], max_steps=args.steps, epochs=100,
                             batch_size=args.batch_size)
    pipe = TrainingPipeline(settings)
    base = base_model_path(settings)

    # Ray path: the whole job as users run it (Ray Data prep, Ray Train fit, store, register).
    # Twice: the first pays the cluster's cold start (worker processes, imports), the second is a
    # typical job on a running deployment.
    cold = pipe.run("bench-ray-cold", req).metrics
    m = pipe.run("bench-ray-warm", req).metrics
    ray_tps = steady(m["train_tokens"], m["step"], m["t_first_step"], m["t_last_step"])

    # Plain path: same prepared blocks, same plan, one process, no Ray.
    plan = resolve_plan("bench-plain", req, settings, base_model_path=base)
    data = pipe.prepare_data(req, plan)
    pl = plain_loop(plan, data)
    plain_tps = steady(pl["tokens"], pl["steps"], pl["t_first"], pl["t_last"])

    print(f"steps {m['step']} x batch {args.batch_size} x block {plan.block_size} tokens, tiny model, 1 worker thread")
    print(f"plain peft loop      steady tokens/s: {plain_tps:10.0f}")
    print(f"Ray Train job path   steady tokens/s: {ray_tps:10.0f}")
    print(f"ratio Ray/plain: {ray_tps / plain_tps:.3f}  (goal >= 0.9)")
    for label, x in (("cold cluster", cold), ("warm cluster", m)):
        print(f"fixed cost, {label}: submit -> first step {x['t_first_step'] - x['t_submitted']:.1f} s "
              f"(data prep {x['prepare_seconds']:.1f} s, Train start + model load + initial eval "
              f"{x['t_first_step'] - x['t_submitted'] - x['prepare_seconds']:.1f} s); "
              f"last step -> registered {x['t_registered'] - x['t_last_step']:.1f} s; "
              f"total {x['t_first_step'] - x['t_submitted'] + x['t_registered'] - x['t_last_step']:.1f} s")


if __name__ == "__main__":
    main()
