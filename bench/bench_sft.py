"""Benchmark: TRL's SFTTrainer vs the project's plain peft loop, same LoRA, records, steps and loss rule.

Both run single-process on CPU, one after the other, in rounds (median reported):
- plain: clara_ray.training.loop.train_epoch on the job's packed blocks (positions restart per record,
  completion-only loss with the closing token, no attention mask).
- TRL: SFTTrainer on the same training records as a conversational prompt/completion dataset, with
  SFTConfig(packing=True, packing_strategy="bfd_split", padding_free=True, completion_only_loss=True,
  max_length=block size): TRL's own padding-free packing.
Same LoRA (the plan's rank/alpha/dropout/targets: the model object comes from training.modeling.build_model),
same peak learning rate and schedule shape (linear warmup, cosine to 10 %), AdamW without weight decay,
no gradient clipping, batch size in packed rows, fp32, no gradient checkpointing.

Ray Train integration of TRL (ray.train.huggingface.transformers.prepare_trainer + RayTrainReportCallback)
adds the same fixed costs as the project's Ray path (controller and worker start, model load), so this
compares the two single-process loops; see `python -m bench.bench_training` for the Ray overhead.

Needs the `bench` extra: `pip install -e '.[bench]'` (trl, datasets).
Run: `python -m bench.bench_sft`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from bench.bench_training import bench_settings, local_data, plain_loop, step_counts, steady_exact  # noqa: E402


def require_trl():
    try:
        import datasets  # noqa: F401
        import trl
    except ImportError as e:
        sys.exit(f"bench_sft needs TRL and datasets ({e}). Install the bench extra: pip install -e '.[bench]'")
    return trl


def trl_run(plan, tokenizer, items: list, out_dir: str) -> dict:
    """SFTTrainer for plan.max_steps steps; step end times and each step's tokens / target tokens."""
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from clara_ray.training.modeling import build_model

    times: list[float] = []
    tokens: list[int] = []
    targets: list[int] = []

    class Timer(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            times.append(time.perf_counter())

    class CountingSFTTrainer(SFTTrainer):
        # Counts what each micro-batch feeds the model; the loss itself is TRL's.
        def compute_loss(self, model, inputs, *a, **kw):
            if model.training:
                tokens.append(int(inputs["input_ids"].numel()))
                targets.append(int((inputs["labels"][:, 1:] != -100).sum()))
            return super().compute_loss(model, inputs, *a, **kw)

    # Chat records (user turn(s), then the assistant answer) as prompt/completion: TRL masks the prompt.
    rows = [{"prompt": m[:-1], "completion": m[-1:]} for m in items]
    cfg = SFTConfig(
        output_dir=out_dir,
        max_steps=plan.max_steps,
        per_device_train_batch_size=plan.batch_size,
        gradient_accumulation_steps=1,
        learning_rate=plan.learning_rate,
        lr_scheduler_type="cosine_with_min_lr",
        lr_scheduler_kwargs={"min_lr_rate": 0.1},
        warmup_steps=max(1, plan.max_steps // 20),
        weight_decay=0.0,
        max_grad_norm=0.0,
        optim="adamw_torch",
        bf16=False,
        fp16=False,
        gradient_checkpointing=False,
        use_cpu=True,
        seed=plan.seed,
        data_seed=plan.seed,
        logging_steps=10**6,
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        max_length=plan.block_size,
        packing=True,
        packing_strategy="bfd_split",  # "bfd" (the default) would cut records longer than a block, closing token too
        padding_free=True,
        completion_only_loss=True,
    )
    t0 = time.perf_counter()
    model = build_model(plan, torch.device("cpu"))
    trainer = CountingSFTTrainer(model=model, args=cfg, train_dataset=Dataset.from_list(rows),
                                 processing_class=tokenizer, callbacks=[Timer()])
    setup = time.perf_counter() - t0
    out = trainer.train()
    ds = trainer.train_dataset
    return {"times": times, "tokens": tokens, "targets": targets, "loss": out.training_loss, "setup_s": setup,
            "packed_rows": len(ds), "packed_tokens": sum(len(x) for x in ds["input_ids"])}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--rounds", type=int, default=3, help="runs of each (median reported)")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--model-cache", default=os.path.join(tempfile.gettempdir(), "clara-bench-models"),
                   help="where the bundled tiny base model is built once and reused ('' = fresh)")
    args = p.parse_args()
    trl = require_trl()

    import torch
    import transformers

    from clara_ray.resources import qa_path
    from clara_ray.training.spec import TrainingJobRequest

    torch.set_num_threads(args.threads)
    settings = bench_settings(tempfile.mkdtemp(prefix="clara-bench-"), args.model_cache)
    req = TrainingJobRequest(name="bench", data_paths=[str(qa_path())], max_steps=args.steps, epochs=100,
                             batch_size=args.batch_size)
    d = local_data(settings, req)
    plan = d.plan
    tok_a, tgt_a = step_counts(d.real, plan.batch_size, plan.seed, plan.max_steps)

    res: dict[str, list[dict]] = {"plain": [], "trl": []}
    extra: dict = {}
    for r in range(args.rounds):  # alternate the order so load drift does not favour one side
        for k in (("plain", "trl") if r % 2 == 0 else ("trl", "plain")):
            if k == "plain":
                out = plain_loop(plan, d.blocks)
                times, toks, tgts, loss = out["times"], tok_a, tgt_a, statistics.fmean(out["losses"])
            else:
                out = trl_run(plan, d.tokenizer, d.items, tempfile.mkdtemp(prefix="clara-bench-trl-"))
                times, toks, tgts, loss = out["times"], out["tokens"], out["targets"], out["loss"]
                extra = out
            res[k].append({"tps": steady_exact(times, toks), "target_tps": steady_exact(times, tgts), "loss": loss,
                           "per_step": statistics.fmean(toks[: len(times)]),
                           "per_step_targets": statistics.fmean(tgts[: len(times)])})
    med = {k: {m: statistics.median(x[m] for x in v) for m in v[0]} for k, v in res.items()}

    print(f"trl {trl.__version__}, transformers {transformers.__version__}, torch {torch.__version__}; "
          f"{len(d.records)} training records, {plan.max_steps} steps x batch {plan.batch_size} x block "
          f"{plan.block_size}, LoRA r={plan.r} alpha={plan.alpha} on {','.join(plan.target_modules)}, "
          f"lr {plan.learning_rate:g}, tiny model, {args.threads} torch thread(s), median of {args.rounds} round(s)")
    print(f"our packing: {len(d.blocks)} blocks; TRL bfd_split: {extra['packed_rows']} rows "
          f"({extra['packed_tokens']} tokens); TRL setup (dataset tokenise + pack, trainer) {extra['setup_s']:.1f} s")
    print(f"{'':32s} {'tokens/s':>10s} {'targets/s':>10s} {'tokens/step':>12s} {'targets/step':>13s} {'mean loss':>10s}")
    for k, label in (("plain", "plain peft loop (train_epoch)"), ("trl", "TRL SFTTrainer")):
        m = med[k]
        print(f"{label:32s} {m['tps']:10.0f} {m['target_tps']:10.0f} {m['per_step']:12.0f} "
              f"{m['per_step_targets']:13.0f} {m['loss']:10.3f}")
    print(f"ratio TRL/plain: tokens/s {med['trl']['tps'] / med['plain']['tps']:.3f}, target tokens/s "
          f"{med['trl']['target_tps'] / med['plain']['target_tps']:.3f}  (keep TRL only if >= 0.9 and it does the same job)")
    print("per round tokens/s: " + "; ".join(f"{k} " + ", ".join(f"{x['tps']:.0f}" for x in v) for k, v in res.items()))
    print("Both single-process: TRL under Ray Train (prepare_trainer, RayTrainReportCallback) pays the same fixed "
          "costs as the project's Ray path (bench_training), so the loops are compared without Ray.")


if __name__ == "__main__":
    main()
