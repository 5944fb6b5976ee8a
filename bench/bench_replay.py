"""Replay and search augmentation on the bundled corpus: regression drift and validation perplexity of learning cycles.

In one process, no Ray, on the bundled tiny model: the demo's initial 'baurecht' adapter (170 Baurecht Q&A, the
demo's recipe) is continued by consecutive learning cycles on the demo's held-back reviewer feedback (Baurecht Q&A
170-249, split into `--cycles` batches), four ways side by side: replay 0 / `--replay` (default 0.5) x search
augmentation off / on (hybrid search over the corpus's Baurecht documents, ingested in-process). Each cycle's data
is built by the loop's own code (clara_ray/learning/training_set.py), prepared by the job's own functions
(process_rows + assemble, in-process) and trained with the job's loop (training/loop.py) on the
CONTINUOUS recipe the loop would use; perplexities and the KL divergence are the gate's evaluator's
(learning/evaluator.py; initial adapter vs each cycle's candidate) on the alias's validation split and the fixed
regression set. Every cycle continues the previous one's candidate whatever
a gate would decide, so drift accumulates as it would over promoted cycles.

Run: `python -m bench.bench_replay` (about 2-4 minutes on 2 cores; `--model-cache DIR` keeps the built tiny base).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@dataclass
class Sample:
    """A claimed feedback sample, as the training set reads it."""

    prompt: str
    response: str
    correction: str | None = None


def local_blocks(settings, req, job_id: str, parent_dir: Path | None = None):
    """The job's plan and training blocks, prepared in this process with the job's own functions (readers'
    payloads_local -> prepare.process_rows -> prepare.assemble: what the Ray Data prep runs, without Ray)."""
    from clara_ray.datasets.readers import expand_paths, payloads_local
    from clara_ray.model.tokenizer import load_tokenizer
    from clara_ray.records import QualityLimits
    from clara_ray.training.pipeline import TrainingPipeline, base_model_path
    from clara_ray.training.prepare import assemble, process_rows
    from clara_ray.training.spec import resolve_plan

    pipe = TrainingPipeline(settings)
    plan = resolve_plan(job_id, req, settings, base_model_path=base_model_path(settings),
                        parent_adapter_path=str(parent_dir) if parent_dir else None)
    spec = pipe.tokenization(req, plan)
    limits = QualityLimits(settings.data.min_length, settings.data.max_length)
    rows = []
    for batch in payloads_local(expand_paths(req.data_paths)):
        out = process_rows(batch, spec=spec, limits=limits, record_filter=None)
        rows += [{k: out[k][i] for k in out} for i in range(len(out["ok"]))]
    tok = load_tokenizer(spec.tokenizer_path, spec.chat_template)
    prepared = assemble(rows, block_size=plan.block_size, val_fraction=settings.training.val_fraction,
                        pad_id=tok.pad_token_id, paths=req.data_paths)
    return plan, prepared.train_blocks


def train(plan, blocks, out_dir: Path) -> None:
    """The job's loop in one process: plan.epochs epochs of train_epoch, then the adapter saved to out_dir."""
    import torch

    from clara_ray.training.loop import LoopState, make_optimizer, steps_per_epoch, train_epoch
    from clara_ray.training.modeling import build_model

    model = build_model(plan, torch.device("cpu"))
    opt = make_optimizer(model, plan.learning_rate)
    total = steps_per_epoch(len(blocks), plan.batch_size, plan.grad_accum_steps, 1) * plan.epochs
    state = LoopState()
    while state.epoch < plan.epochs and state.step < total:
        train_epoch(model, opt, blocks, state, batch_size=plan.batch_size, grad_accum=plan.grad_accum_steps,
                    total_steps=total, peak_lr=plan.learning_rate, seed=plan.seed, device=torch.device("cpu"))
    model.save_pretrained(str(out_dir))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cycles", type=int, default=2, help="consecutive cycles over the 80 feedback samples")
    ap.add_argument("--replay", type=float, default=0.5, help="replay fraction compared with 0")
    ap.add_argument("--augment-max-records", type=int, default=20)
    ap.add_argument("--model-cache", default=None, help="folder keeping the built tiny base model between runs")
    ap.add_argument("--feedback", choices=("demo", "shifted"), default="demo",
                    help="demo: the demo's held-back Baurecht reviewer feedback (the alias's own distribution); "
                         "shifted: 80 Umweltrecht Q&A sent to the Baurecht alias (a distribution shift, where "
                         "forgetting shows)")
    args = ap.parse_args()

    from bench.bench_training import bench_settings
    from clara_ray.adapters.registry import AdapterRegistry
    from clara_ray.datasets.schemas import IngestRequest
    from clara_ray.datasets.service import DatasetService
    from clara_ray.db.engine import Database
    from clara_ray.demo import write_demo_data
    from clara_ray.learning.evaluate import regression_records, validation_records
    from clara_ray.learning.evaluator import EvalSets, evaluate_cycle
    from clara_ray.learning.search_augment import service_search
    from clara_ray.learning.training_set import TrainingSetBuilder
    from clara_ray.model.chat_format import resolve_chat_template
    from clara_ray.resources import documents_path, load_jsonl, qa_path
    from clara_ray.training.pipeline import base_model_path
    from clara_ray.training.spec import TrainerType, TrainingJobRequest

    t_start = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="clara-bench-replay-"))
    settings = bench_settings(str(root), args.model_cache)
    base = base_model_path(settings)
    template = resolve_chat_template(settings.model.chat_template)
    db = Database(settings.storage.database_url)
    reg = AdapterRegistry(db)

    def scores(candidate: Path):
        """The gate's evaluator: the initial adapter vs `candidate` on both sets, and KL(initial || candidate)."""
        return evaluate_cycle(base, str(v1_dir), str(candidate), EvalSets(validation=val, regression=regression),
                              template, "cpu")

    initial, _, _ = write_demo_data(root / "demo")
    first = TrainingJobRequest(name="baurecht", trainer_type=TrainerType.LORA, data_paths=[str(initial)], epochs=3,
                               learning_rate=3e-3, domain="baurecht")
    plan, blocks = local_blocks(settings, first, "initial")
    v1_dir = root / "adapters" / "v1"
    train(plan, blocks, v1_dir)
    v1 = reg.register(name="baurecht", uri=str(v1_dir), base_model="tiny", trainer_type="LORA", rank=plan.r,
                      domain="baurecht", dataset={"paths": [str(initial)]})
    reg.activate(v1.id)
    val = validation_records(reg, v1.id, settings.training.val_fraction)
    regression = regression_records(settings.learning.regression_path)
    first_scores = scores(v1_dir)
    start = {"val": first_scores.before.val_ppl, "reg": first_scores.before.regression_ppl}
    t_initial = time.perf_counter()

    docs = [d for d in load_jsonl(documents_path()) if d["domain"] == "baurecht"]
    datasets = DatasetService(settings, db)
    datasets.ingest(IngestRequest(documents=docs, use_ray=False))
    search = service_search(datasets)
    t_corpus = time.perf_counter()

    from clara_ray.records import content_hash, content_of, normalise

    held_out = {content_hash(content_of(r)) for r in regression}
    if args.feedback == "demo":
        pool = [r for r in load_jsonl(qa_path()) if r["domain"] == "baurecht"][170:250]
    else:
        pool = [r for r in load_jsonl(qa_path()) if r["domain"] == "umweltrecht"
                and content_hash(content_of(normalise(r))) not in held_out][:80]
    size = len(pool) // args.cycles
    batches = [[Sample(r["prompt"], r["response"], r["response"]) for r in pool[i * size:(i + 1) * size]]
               for i in range(args.cycles)]
    configs = [(0.0, False), (args.replay, False), (0.0, True), (args.replay, True)]
    results = {}
    for replay, augment in configs:
        label = f"replay {replay:g}, search {'on' if augment else 'off'}"
        cfg = settings.model_copy(update={"learning": settings.learning.model_copy(update={
            "replay_fraction": replay, "augment_with_search": augment,
            "augment_max_records": args.augment_max_records})})
        builder = TrainingSetBuilder(cfg, reg, search)
        parent_id, parent_dir, steps = v1.id, v1_dir, []
        for i, batch in enumerate(batches):
            cycle_id = f"r{replay:g}-s{int(augment)}-c{i}"
            ts = builder.build_sync(cycle_id, parent_id, batch)
            path = root / "learning" / f"{cycle_id}.jsonl"
            ts.write(path)
            req = TrainingJobRequest(name="baurecht", trainer_type=TrainerType.CONTINUOUS, data_paths=[str(path)],
                                     parent="baurecht@v1", learning_rate=cfg.learning.learning_rate,
                                     epochs=cfg.learning.epochs)
            plan, blocks = local_blocks(cfg, req, cycle_id, parent_dir)
            out = root / "adapters" / cycle_id
            train(plan, blocks, out)
            v = reg.register(name="baurecht", uri=str(out), base_model="tiny", trainer_type="CONTINUOUS",
                             rank=plan.r, domain="baurecht", parent_id=parent_id, dataset={"paths": [str(path)]})
            ev = scores(out)
            steps.append({"val": ev.after.val_ppl, "reg": ev.after.regression_ppl, "kl": ev.kl, "counts": ts.counts,
                          "lr": plan.learning_rate, "epochs": plan.epochs})
            parent_id, parent_dir = v.id, out
        results[label] = steps
    t_end = time.perf_counter()

    print(f"bench_replay: tiny model, {len(val)} validation records, {len(regression)} regression records, "
          f"{args.cycles} cycles of {size} {args.feedback} feedback samples (CONTINUOUS lr {steps[0]['lr']:g}, "
          f"{steps[0]['epochs']} epochs)")
    print(f"initial adapter: validation ppl {start['val']:.3f}, regression ppl {start['reg']:.3f}")
    print(f"{'configuration':<26} {'records/cycle (fb+replay+search)':<34} {'validation ppl':<26} "
          f"{'regression ppl':<26} {'val change':>10} {'drift':>8} {'KL vs initial':>14}")
    for label, steps in results.items():
        recs = ", ".join(f"{s['counts'].feedback}+{s['counts'].replay}+{s['counts'].search}" for s in steps)
        vals = " -> ".join(f"{s['val']:.3f}" for s in steps)
        regs = " -> ".join(f"{s['reg']:.3f}" for s in steps)
        gain = steps[-1]["val"] / start["val"] - 1
        drift = steps[-1]["reg"] / start["reg"] - 1
        print(f"{label:<26} {recs:<34} {vals:<26} {regs:<26} {gain:>+10.2%} {drift:>+8.2%} "
              f"{steps[-1]['kl']:>14.4f}")
    drift = {k: s[-1]["reg"] / start["reg"] - 1 for k, s in results.items()}
    gain = {k: s[-1]["val"] / start["val"] - 1 for k, s in results.items()}
    keys = list(results)
    print(f"regression drift, replay {args.replay:g} vs 0 (search off): {drift[keys[1]]:+.2%} vs {drift[keys[0]]:+.2%}"
          f"  (ratio {drift[keys[1]] / drift[keys[0]]:.2f})" if drift[keys[0]] else "")
    print(f"regression drift, replay {args.replay:g} vs 0 (search on):  {drift[keys[3]]:+.2%} vs {drift[keys[2]]:+.2%}")
    print(f"validation ppl change, search on vs off (replay 0): {gain[keys[2]]:+.2%} vs {gain[keys[0]]:+.2%}; "
          f"(replay {args.replay:g}): {gain[keys[3]]:+.2%} vs {gain[keys[1]]:+.2%}")
    q = results[keys[2]][0]["counts"].search_query
    print(f"search query of the first batch: {q!r}")
    print(f"time: initial adapter {t_initial - t_start:.0f} s, corpus ingest {t_corpus - t_initial:.0f} s, "
          f"{len(configs) * args.cycles} cycles {t_end - t_corpus:.0f} s, total {t_end - t_start:.0f} s")
    datasets.close()


if __name__ == "__main__":
    main()
