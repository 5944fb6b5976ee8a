"""Training benchmarks on the bundled tiny model and Q&A.

Default: the Ray Train job path vs a plain single-process peft loop, same model, data and steps. Prints
steady-state tokens/s of each (first step excluded), their ratio, and the Ray path's fixed cost
(submit -> first step, last step -> adapter registered). Run: `python -m bench.bench_training`.

`--packing` (no Ray): what padding-free packing costs and saves, on the same records and the same number of
optimizer steps in one process: (a) packed blocks with positions restarting per record (today's path, each
record attends only to itself), (b) the same blocks with positions 0..block-1 per row (plain concatenation,
records attend across their boundaries), (c) no packing, one record per row right-padded to the longest record
of its micro-batch with an attention mask. Counts only real (non-pad) tokens and target tokens.
Run: `python -m bench.bench_training --packing`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from dataclasses import dataclass

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def steady(tokens: int, steps: int, t_first: float, t_last: float) -> float:
    # Tokens after the first step over the time after it: excludes warm-up and one-off allocation.
    return tokens * (steps - 1) / steps / max(t_last - t_first, 1e-9)


def steady_exact(times: list[float], counts: list[int]) -> float:
    """Per-step counts after the first step over the time after it (times[i]: end of step i+1)."""
    return sum(counts[1 : len(times)]) / max(times[-1] - times[0], 1e-9)


def bench_settings(root: str, model_cache: str | None = None, **overrides):
    """Settings for a throw-away data dir; `model_cache` keeps the built tiny base between runs (it takes ~1 min)."""
    from clara_ray.config import load_settings

    model = {"cache_dir": model_cache} if model_cache else {}
    return load_settings(storage={"data_dir": root}, model=model, **overrides)


@dataclass
class LocalData:
    """The job's training split, prepared in-process (no Ray): what the Ray Data prep produces, plus the records."""

    plan: object  # TrainPlan
    tokenizer: object
    items: list  # normalised records (chat messages) of the training split, in packing order
    records: list  # their Encoded ids + loss mask
    blocks: object  # Blocks packed from `records` (== prepare()'s train_blocks)
    real: object  # Blocks with ids = 1 where a token is a record's (not padding), same rows as `blocks`


def local_data(settings, req, job_id: str = "bench-local") -> LocalData:
    """Tokenise, filter, dedup, split and pack `req`'s data with the job's own functions, without Ray.

    Rows go through data.prepare.process_rows (the Ray Data map function) and assemble (the driver step); the
    kept training records are rebuilt alongside in the same order, and checked to pack into the same blocks.
    """
    import numpy as np

    from clara_ray.training.packing import Blocks, pack
    from clara_ray.training.prepare import assemble, process_rows
    from clara_ray.records import QualityLimits, is_validation, normalise
    from clara_ray.model.chat_format import Encoded
    from clara_ray.model.tokenizer import load_tokenizer
    from clara_ray.training.pipeline import TrainingPipeline, base_model_path, dataset_paths
    from clara_ray.training.spec import resolve_plan

    pipe = TrainingPipeline(settings)
    plan = resolve_plan(job_id, req, settings, base_model_path=base_model_path(settings))
    spec = pipe.tokenization(req, plan)
    t, q = settings.training, settings.data
    paths = dataset_paths(pipe.db, req)
    lines, origin = [], []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    lines.append(line)
                    origin.append(path)
    rows = process_rows({"path": origin, "kind": ["json"] * len(lines), "payload": lines}, spec=spec, limits=QualityLimits(q.min_length, q.max_length),
                        record_filter=req.record_filter)
    assert len(rows["ok"]) == len(lines), "one output row per input line (no record_filter here)"
    tok = load_tokenizer(spec.tokenizer_path, spec.chat_template)
    prepared = assemble([{k: rows[k][i] for k in rows} for i in range(len(rows["ok"]))], block_size=plan.block_size,
                        val_fraction=t.val_fraction, pad_id=tok.pad_token_id, paths=paths)
    kept: dict = {}
    for i, ok in enumerate(rows["ok"]):
        if ok and rows["hash"][i] not in kept:
            kept[rows["hash"][i]] = i
    train = [kept[h] for h in sorted(kept) if not is_validation(h, t.val_fraction)]
    records = [Encoded(np.asarray(rows["ids"][i]).tolist(), np.asarray(rows["loss"][i], dtype=bool).tolist())
               for i in train]
    items = [normalise(json.loads(lines[i]), columns=dict(spec.columns) or None) for i in train]
    blocks = pack(records, plan.block_size, tok.pad_token_id)
    assert np.array_equal(blocks.ids, prepared.train_blocks.ids), "in-process split differs from prepare()'s"
    n = sum(len(r.ids) for r in records)
    real = (np.arange(blocks.ids.size) < n).reshape(blocks.ids.shape)
    return LocalData(plan, tok, items, records, blocks,
                     Blocks(real.astype(np.int32), blocks.loss, blocks.pos))


def step_counts(real, batch_size: int, seed: int, steps: int) -> tuple[list[int], list[int]]:
    """Real and target tokens of each optimizer step of train_epoch (grad_accum 1), replaying its batch order."""
    from clara_ray.training.loop import batches

    tokens, targets, epoch = [], [], 0
    while len(tokens) < steps:
        for ids, mask, _ in batches(real, batch_size, epoch, seed):
            tokens.append(int(ids.sum()))
            targets.append(int(mask[:, 1:].sum()))
            if len(tokens) == steps:
                break
        epoch += 1
    return tokens, targets


def plain_loop(plan, blocks) -> dict:
    """clara_ray.training.loop.train_epoch in one process for plan.max_steps steps: step end times and losses."""
    import torch

    from clara_ray.training.loop import LoopState, make_optimizer, train_epoch
    from clara_ray.training.modeling import build_model

    model = build_model(plan, torch.device("cpu"))
    opt = make_optimizer(model, plan.learning_rate)
    state, times, losses = LoopState(), [], []

    def on_step(m: dict) -> None:
        times.append(time.perf_counter())
        losses.append(m["loss"])

    while state.step < plan.max_steps:
        train_epoch(model, opt, blocks, state, batch_size=plan.batch_size, grad_accum=1,
                    total_steps=plan.max_steps, peak_lr=plan.learning_rate, seed=plan.seed,
                    device=torch.device("cpu"), on_step=on_step)
    return {"tokens": state.tokens, "steps": state.step, "t_first": times[0], "t_last": times[-1],
            "times": times, "losses": losses}


def padded_loop(plan, records, pad_id: int) -> dict:
    """Variant (c): no packing. One record per row, right-padded to the micro-batch's longest, attention mask on.

    Same optimizer, schedule, loss mask and shuffling seed as train_epoch; only the batch layout differs.
    """
    import numpy as np
    import torch

    from clara_ray.training.loop import lr_at, make_optimizer
    from clara_ray.training.modeling import build_model

    model = build_model(plan, torch.device("cpu"))
    model.train()
    opt = make_optimizer(model, plan.learning_rate)
    steps, warmup = plan.max_steps, max(1, plan.max_steps // 20)
    times, losses, tokens, targets, slots = [], [], [], [], []
    epoch = 0
    while len(times) < steps:
        order = np.random.default_rng(plan.seed + epoch).permutation(len(records))
        for i in range(0, len(order), plan.batch_size):
            rows = [records[j] for j in order[i : i + plan.batch_size]]
            width = max(len(r.ids) for r in rows)
            ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
            att = torch.zeros((len(rows), width), dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.bool)
            for k, r in enumerate(rows):
                ids[k, : len(r.ids)] = torch.tensor(r.ids)
                att[k, : len(r.ids)] = 1
                mask[k, 1 : len(r.ids)] = torch.tensor(r.loss[1:])
            out = model(input_ids=ids, attention_mask=att, labels=ids.masked_fill(~mask, -100), use_cache=False)
            out.loss.backward()
            for g in opt.param_groups:
                g["lr"] = lr_at(len(times), steps, plan.learning_rate, warmup)
            opt.step()
            opt.zero_grad(set_to_none=True)
            times.append(time.perf_counter())
            losses.append(out.loss.detach().item())
            tokens.append(int(att.sum()))
            targets.append(int(mask[:, 1:].sum()))
            slots.append(ids.numel())
            if len(times) == steps:
                break
        epoch += 1
    return {"times": times, "losses": losses, "tokens": tokens, "targets": targets, "slots": slots}


def packing_main(args) -> None:
    """--packing: (a) packed + position resets, (b) packed, positions not reset, (c) unpacked, padded per batch."""
    import numpy as np
    import torch

    from clara_ray.training.packing import Blocks
    from clara_ray.resources import qa_path
    from clara_ray.training.spec import TrainingJobRequest

    torch.set_num_threads(args.threads)
    settings = bench_settings(tempfile.mkdtemp(prefix="clara-bench-"), args.model_cache)
    req = TrainingJobRequest(name="bench", data_paths=[str(qa_path())], max_steps=args.steps, epochs=100,
                             batch_size=args.batch_size)
    d = local_data(settings, req)
    plan, blocks = d.plan, d.blocks
    flat = Blocks(blocks.ids, blocks.loss, np.broadcast_to(np.arange(blocks.block_size, dtype=np.int32),
                                                           blocks.ids.shape).copy())
    tok_a, tgt_a = step_counts(d.real, plan.batch_size, plan.seed, plan.max_steps)
    slots_a = [min(plan.batch_size, len(blocks)) * blocks.block_size] * plan.max_steps
    runs = {
        "a": lambda: dict(plain_loop(plan, blocks), tokens=tok_a, targets=tgt_a, slots=slots_a),
        "b": lambda: dict(plain_loop(plan, flat), tokens=tok_a, targets=tgt_a, slots=slots_a),
        "c": lambda: padded_loop(plan, d.records, d.tokenizer.pad_token_id),
    }
    labels = {
        "a": "(a) packed, positions reset per record (today)",
        "b": "(b) packed, positions 0..block-1 (concatenation)",
        "c": "(c) unpacked, padded per micro-batch",
    }
    results: dict[str, list[dict]] = {k: [] for k in runs}
    for r in range(args.rounds):  # rotate the order each round so load drift does not favour one variant
        keys = list(runs)[r % 3 :] + list(runs)[: r % 3]
        for k in keys:
            out = runs[k]()
            results[k].append({"tps": steady_exact(out["times"], out["tokens"]),
                               "target_tps": steady_exact(out["times"], out["targets"]),
                               "loss": statistics.fmean(out["losses"][-20:]),
                               "real": statistics.fmean(out["tokens"]), "slots": statistics.fmean(out["slots"])})
    lengths = [len(r.ids) for r in d.records]
    print(f"{len(d.records)} training records ({min(lengths)}-{max(lengths)} tokens, mean "
          f"{statistics.fmean(lengths):.0f}), {plan.max_steps} steps x batch {plan.batch_size}, block "
          f"{plan.block_size}, tiny model, {args.threads} torch thread(s), median of {args.rounds} round(s)")
    med = {k: {m: statistics.median(x[m] for x in v) for m in v[0]} for k, v in results.items()}
    print(f"{'':50s} {'tokens/s':>10s} {'ratio':>6s} {'targets/s':>10s} {'ratio':>6s} {'real/computed per step':>23s} "
          f"{'loss, last 20':>14s}")
    for k in runs:
        m = med[k]
        print(f"{labels[k]:50s} {m['tps']:10.0f} {m['tps'] / med['a']['tps']:6.2f} {m['target_tps']:10.0f} "
              f"{m['target_tps'] / med['a']['target_tps']:6.2f} {m['real']:11.0f} / {m['slots']:9.0f} {m['loss']:14.3f}")
    print("(tokens: real record tokens, no padding; targets: tokens that carry loss; ratio: to (a); computed: "
          "positions the model runs, padding included; loss: mean of the last 20 steps, a sanity check only)")
    print("per round tokens/s: " + "; ".join(f"{k} " + ", ".join(f"{x['tps']:.0f}" for x in v)
                                               for k, v in results.items()))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--packing", action="store_true",
                   help="compare packing layouts in one process (no Ray) instead of the Ray path vs the plain loop")
    p.add_argument("--rounds", type=int, default=3, help="--packing: runs of each variant (median reported)")
    p.add_argument("--threads", type=int, default=1, help="--packing: torch threads")
    p.add_argument("--model-cache", default=os.path.join(tempfile.gettempdir(), "clara-bench-models"),
                   help="--packing: where the bundled tiny base model is built once and reused ('' = fresh)")
    args = p.parse_args()
    if args.packing:
        packing_main(args)
        return

    import torch

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
    torch.set_num_threads(max(1, int(plan.cpus_per_worker)))
    pl = plain_loop(plan, data.train_blocks)
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
