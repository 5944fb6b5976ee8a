"""Benchmark the loop's shipped defaults without Ray: does a learning cycle on good feedback pass the gate?

In one process, with the project's own training functions: an initial LoRA adapter on the demo's 170 Baurecht
records (the demo's job settings), then CONTINUOUS cycles on the 40 held-back records with several recipes side by
side (the shipped one first), each scored by the cycle evaluator (base loaded once) and judged by the gate on the
shipped limits: validation gain, regression drift, KL(active || candidate), decision.

Run: `python -m bench.bench_cycle_defaults [--model-cache DIR]` (the tiny base is built once, ~1 min).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def train(settings, req, out: Path, parent: str | None = None) -> str:
    """One job's training in-process (local_data + train_epoch, as the Ray worker runs them); the adapter folder."""
    import torch

    from clara_ray.model.tokenizer import load_tokenizer
    from clara_ray.records import content_hash, content_of, is_validation, normalise
    from clara_ray.training.loop import LoopState, make_optimizer, steps_per_epoch, train_epoch
    from clara_ray.training.modeling import build_model
    from clara_ray.training.packing import pack
    from clara_ray.training.pipeline import TrainingPipeline, base_model_path
    from clara_ray.training.prepare import encode
    from clara_ray.training.spec import resolve_plan

    plan = resolve_plan("bench", req, settings, base_model_path=base_model_path(settings), parent_adapter_path=parent)
    spec = TrainingPipeline(settings).tokenization(req, plan)
    tok = load_tokenizer(spec.tokenizer_path, spec.chat_template)
    items = [normalise(json.loads(line)) for path in req.data_paths
             for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    train_items = [i for i in items if not is_validation(content_hash(content_of(i)), settings.training.val_fraction)]
    blocks = pack([encode(i, tok, spec) for i in train_items], plan.block_size, tok.pad_token_id)
    model = build_model(plan, torch.device("cpu"))
    opt = make_optimizer(model, plan.learning_rate)
    total = steps_per_epoch(len(blocks.ids), plan.batch_size, 1, 1) * plan.epochs
    state = LoopState()
    while state.step < total:
        train_epoch(model, opt, blocks, state, batch_size=plan.batch_size, grad_accum=1, total_steps=total,
                    peak_lr=plan.learning_rate, seed=plan.seed, device=torch.device("cpu"))
    model.save_pretrained(out)
    return str(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model-cache", default=None, help="keep the built tiny base here between runs")
    args = p.parse_args()

    from bench.bench_training import bench_settings
    from clara_ray.learning.evaluate import regression_records, validation_records
    from clara_ray.learning.evaluator import EvalSets, evaluate_cycle
    from clara_ray.learning.gate import GateLimits, decide
    from clara_ray.adapters.registry import AdapterRegistry
    from clara_ray.db.engine import Database
    from clara_ray.records import normalise
    from clara_ray.resources import load_jsonl, qa_path
    from clara_ray.training.pipeline import base_model_path
    from clara_ray.training.spec import TrainerType, TrainingJobRequest, resolve_plan

    root = Path(tempfile.mkdtemp(prefix="clara-cycle-"))
    settings = bench_settings(str(root), args.model_cache)
    base = base_model_path(settings)
    bau = [r for r in load_jsonl(qa_path()) if r["domain"] == "baurecht"]
    initial = root / "initial.jsonl"
    initial.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in bau[:170]), encoding="utf-8")
    feedback = root / "feedback.jsonl"
    feedback.write_text("".join(json.dumps({"prompt": r["prompt"], "response": r["response"]}, ensure_ascii=False)
                                + "\n" for r in bau[170:210]), encoding="utf-8")
    t0 = time.time()
    v1 = train(settings, TrainingJobRequest(name="bau", data_paths=[str(initial)], epochs=3, learning_rate=3e-3),
               root / "v1")
    print(f"initial adapter trained in {time.time() - t0:.0f} s")
    reg = AdapterRegistry(Database(settings.storage.database_url))
    row = reg.register(name="bau", uri=v1, base_model="tiny", trainer_type="LORA", rank=16,
                       dataset={"paths": [str(initial)]})
    sets = EvalSets(validation=validation_records(reg, row.id, settings.training.val_fraction)
                    + [normalise(r) for r in bau[210:218]],  # + held-out feedback, as the gate sees it
                    regression=regression_records(None))
    limits = GateLimits.of(settings.learning)
    default = TrainingJobRequest(name="bau", trainer_type=TrainerType.CONTINUOUS, data_paths=[str(feedback)])
    recipes = {"shipped default": {}, "lr 1e-3 x 2": {"learning_rate": 1e-3, "epochs": 2},
               "lr 2e-3 x 1": {"learning_rate": 2e-3, "epochs": 1}, "lr 2e-3 x 2": {"learning_rate": 2e-3, "epochs": 2},
               "lr 3e-3 x 2": {"learning_rate": 3e-3, "epochs": 2}, "lr 3e-3 x 3": {"learning_rate": 3e-3, "epochs": 3},
               "old 5e-6 x 1": {"learning_rate": 5e-6, "epochs": 1}}
    print(f"gate: min_improvement {limits.min_improvement:.2%}, max_regression {limits.max_regression:.2%}, "
          f"max_kl {limits.max_kl}")
    print("| recipe | lr x epochs | validation change | regression change | KL(active‖candidate) | gate |")
    print("|---|---|---|---|---|---|")
    for name, over in recipes.items():
        req = default.model_copy(update=over)
        plan = resolve_plan("x", req, settings, base_model_path=base, parent_adapter_path=v1)
        cand = train(settings, req, root / name.replace(" ", "_"), parent=v1)
        ev = evaluate_cycle(base, v1, cand, sets)
        d = decide(ev, limits)
        gain = (ev.after.val_ppl - ev.before.val_ppl) / ev.before.val_ppl
        drift = (ev.after.regression_ppl - ev.before.regression_ppl) / ev.before.regression_ppl
        verdict = "promoted" if d.promoted else "rejected: " + ", ".join(f.code.value for f in d.failures)
        print(f"| {name} | {plan.learning_rate:g} x {plan.epochs} | {gain:+.2%} | {drift:+.2%} | {ev.kl:.4f} | "
              f"{verdict} |")


if __name__ == "__main__":
    main()
