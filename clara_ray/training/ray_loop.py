"""Ray Train side of a job: the per-worker function (DDP, checkpoints, resume, eval) and the TorchTrainer that runs it."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path

import torch

from clara_ray.training.packing import Blocks
from clara_ray.training.loop import LoopState, evaluate, make_optimizer, perplexity, steps_per_epoch, train_epoch
from clara_ray.training.modeling import build_model
from clara_ray.training.progress import ProgressSink
from clara_ray.training.spec import TrainPlan

log = logging.getLogger("clara.train")

ADAPTER_SUBDIR = "adapter"
STATE_FILE = "trainer_state.pt"


def _allreduce_sum(values: list[float], world: int) -> list[float]:
    if world == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64)
    torch.distributed.all_reduce(t)
    return t.tolist()


def _save(model, optimizer, state: LoopState, out: Path) -> None:
    model.save_pretrained(out / ADAPTER_SUBDIR)
    torch.save({"optimizer": optimizer.state_dict(), "state": state.__dict__}, out / STATE_FILE)


def _restore(model, optimizer, ckpt_dir: Path, state: LoopState) -> None:
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    weights = load_file(str(ckpt_dir / ADAPTER_SUBDIR / "adapter_model.safetensors"))
    set_peft_model_state_dict(model, weights)
    saved = torch.load(ckpt_dir / STATE_FILE, weights_only=False)
    optimizer.load_state_dict(saved["optimizer"])
    state.__dict__.update(saved["state"])


def train_loop_per_worker(config: dict) -> None:
    """Runs on every Train worker. Every rank calls ray.train.report the same number of times (Train V2)."""
    import ray
    import ray.train
    import ray.train.torch

    t_start = time.time()
    plan = TrainPlan.model_validate(config["plan"])
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    device = ray.train.torch.get_device() if plan.use_gpu else torch.device("cpu")
    torch.set_num_threads(max(1, int(config.get("threads", 1))))
    train_blocks: Blocks = ray.get(config["train_ref"][0])
    val_blocks: Blocks = ray.get(config["val_ref"][0])
    # Equal shards, so every rank runs the same number of steps (DDP collectives would hang otherwise).
    shard = train_blocks.shard(rank, world)
    val_shard = val_blocks.take(slice(rank, None, world))

    sink = ProgressSink(plan.job_id, config.get("progress_actor"), config.get("namespace")) if rank == 0 else None
    model = build_model(plan, device)
    optimizer = make_optimizer(model, plan.learning_rate)
    state = LoopState()
    ckpt = ray.train.get_checkpoint()
    if ckpt:
        with ckpt.as_directory() as d:
            _restore(model, optimizer, Path(d), state)
        if sink:
            sink.emit({"kind": "resumed", "step": state.step, "pid": os.getpid()}, force=True)
    core = model
    if world > 1:
        model = ray.train.torch.prepare_model(model, move_to_device=False)

    spe = steps_per_epoch(len(shard) * world, plan.batch_size, plan.grad_accum_steps, world)
    total = min(plan.max_steps or 10**12, spe * plan.epochs)

    def eval_ppl() -> float:
        s, n = evaluate(core, val_shard, plan.batch_size, device)
        s, n = _allreduce_sum([s, n], world)
        return perplexity(s, int(n))

    metrics: dict = {"total_steps": total}
    if state.step == 0:
        metrics["ppl_before"] = eval_ppl()
        if sink:
            sink.emit({"kind": "eval", "step": 0, "perplexity": metrics["ppl_before"], "total_steps": total,
                       "pid": os.getpid()}, force=True)
    first_step_at: list[float] = []
    last: dict = {}

    def on_step(m: dict) -> None:
        if not first_step_at:
            first_step_at.append(time.time())
        last.update(m)
        if sink:
            sink.emit({"kind": "step", "total_steps": total, **m})
        if plan.eval_every_steps and m["step"] % plan.eval_every_steps == 0:
            ppl = eval_ppl()
            if sink:
                sink.emit({"kind": "eval", "step": m["step"], "perplexity": ppl}, force=True)
        if m["step"] % plan.checkpoint_every_steps == 0 and m["step"] < total:
            report({"step": m["step"], "loss": m["loss"]}, checkpoint=True)

    def report(m: dict, checkpoint: bool) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            ck = None
            if checkpoint and rank == 0:
                _save(core, optimizer, state, Path(tmp))
                ck = ray.train.Checkpoint.from_directory(tmp)
            ray.train.report(m, checkpoint=ck)

    t_train = time.time()
    while state.step < total:
        epoch_before = state.epoch
        train_epoch(model, optimizer, shard, state, batch_size=plan.batch_size, grad_accum=plan.grad_accum_steps,
                    total_steps=total, peak_lr=plan.learning_rate, seed=plan.seed, device=device,
                    on_step=on_step)
        if state.epoch != epoch_before and state.step < total:
            ppl = eval_ppl()
            if sink:
                sink.emit({"kind": "eval", "step": state.step, "epoch": epoch_before, "perplexity": ppl}, force=True)
            if config.get("report_evals"):  # a sweep trial: Ray Tune's early stopping reads each evaluation
                report({"val_perplexity": ppl, "step": state.step, "epoch": epoch_before + 1}, checkpoint=False)
    t_done = time.time()
    train_tokens = _allreduce_sum([float(state.tokens)], world)[0]
    ppl_after = eval_ppl()
    metrics.update(
        step=state.step,
        loss=last.get("loss"),
        ppl_after=ppl_after,
        val_perplexity=ppl_after,  # the name sweeps rank trials by
        train_tokens=int(train_tokens),
        train_seconds=t_done - t_train,
        tokens_per_s=train_tokens / max(t_done - t_train, 1e-9),
        t_worker_start=t_start,
        t_first_step=first_step_at[0] if first_step_at else t_done,
        t_last_step=t_done,
        world_size=world,
    )
    if sink:
        sink.emit({"kind": "eval", "step": state.step, "perplexity": metrics["ppl_after"], "final": True}, force=True)
    report(metrics, checkpoint=True)


def build_trainer(plan: TrainPlan, train_ref, val_ref, *, progress_actor: str | None = None,
                  namespace: str | None = None, report_evals: bool = False, callbacks=()):
    """The TorchTrainer of one run; `train_ref`/`val_ref`: object refs of the Blocks. `report_evals`: report every
    validation evaluation (a sweep trial, so Ray Tune can stop it early); `callbacks`: Ray Train callbacks (Tune's
    TuneReportCallback in a sweep)."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    resources = {**plan.worker_resources, "CPU": plan.cpus_per_worker}  # custom ones pin the workers to nodes
    if plan.use_gpu:
        resources["GPU"] = plan.gpus_per_worker
    return TorchTrainer(
        train_loop_per_worker,
        train_loop_config={
            "plan": plan.model_dump(mode="json"),
            # Wrapped in lists so Ray passes the refs through instead of resolving them into the config.
            "train_ref": [train_ref],
            "val_ref": [val_ref],
            "progress_actor": progress_actor,
            "namespace": namespace,
            "threads": max(1, int(plan.cpus_per_worker)) if not plan.use_gpu else 4,
            "report_evals": report_evals,
        },
        scaling_config=ScalingConfig(num_workers=plan.num_workers, use_gpu=plan.use_gpu,
                                     resources_per_worker=resources),
        torch_config=TorchConfig(backend="nccl" if plan.use_gpu else "gloo"),
        run_config=RunConfig(
            name=run_name(plan),
            storage_path=plan.checkpoint_uri,
            failure_config=FailureConfig(max_failures=plan.max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=2),
            callbacks=list(callbacks),
        ),
    )


def run_name(plan: TrainPlan) -> str:
    """The Ray Train run's folder under `storage.checkpoint_uri` (resumed from by a retried job)."""
    return f"clara-{plan.name}-{plan.job_id}"


def fit(plan: TrainPlan, train_blocks: Blocks, val_blocks: Blocks,
        progress_actor: str | None = None, namespace: str | None = None) -> tuple[dict, Path]:
    """Run the job on Ray Train; returns (final metrics, local folder holding the final adapter)."""
    import ray

    trainer = build_trainer(plan, ray.put(train_blocks), ray.put(val_blocks), progress_actor=progress_actor,
                            namespace=namespace)
    result = trainer.fit()
    if result.checkpoint is None:
        raise RuntimeError("training finished without a final checkpoint")
    local = Path(tempfile.mkdtemp(prefix="clara-adapter-"))
    result.checkpoint.to_directory(str(local))
    return dict(result.metrics), local / ADAPTER_SUBDIR
