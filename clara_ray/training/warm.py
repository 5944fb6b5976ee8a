"""Warm training: a worker holding the base model runs small jobs and cycle evaluations in-process (plain Python;
actors/warm_trainer.py is the Ray shell around a worker, training/warm_router.py sends it the eligible jobs).

A cold job pays for a Ray Train controller and worker processes importing torch/transformers/peft, a Ray Data
pipeline and a model load. A warm worker has paid that once: per job it wraps its held base in LoRA layers
(a fresh adapter or the parent's), prepares the data in-process with the same functions Ray Data would run,
trains with the same loop (training/loop.py), saves and registers the adapter through the pipeline's code, and
takes the LoRA layers out again (peft `unload`), so the next job finds the base as it was loaded.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from clara_ray.config import ClaraSettings
from clara_ray.db.engine import Database
from clara_ray.training.spec import TrainerType, TrainingJobRequest

log = logging.getLogger("clara.warm")

WARM_TRAINERS = (TrainerType.LORA, TrainerType.CONTINUOUS)  # a full-precision base; QLORA needs a quantised one


class JobStopped(Exception):
    """The job was cancelled (or timed out) while it ran on a warm worker."""


class UnknownWarmJob(KeyError):
    """The warm worker has no record of this job (it restarted, or the job was never sent to it)."""


class EventSink(Protocol):
    """Where a job's progress events go: `emit` may batch, `close` delivers what is left and returns once it is."""

    def emit(self, event: dict, force: bool = False) -> None: ...
    def close(self) -> None: ...


def warm_threads(settings: ClaraSettings) -> int:
    """Torch threads of a warm worker: its reserved CPUs rounded up, at least one."""
    return max(1, math.ceil(settings.training.warm_worker_cpus))


def input_bytes(db: Database, req: TrainingJobRequest, settings: ClaraSettings) -> int | None:
    """Total size of the job's local input files; None when any input is remote or cannot be listed (such jobs
    stay on the Ray Data path)."""
    from clara_ray.datasets.readers import expand_paths
    from clara_ray.training.pipeline import dataset_paths

    try:
        paths = dataset_paths(db, req, settings)
        if any("://" in p for p in paths):
            return None
        files = expand_paths(paths)
        return sum(Path(f).stat().st_size for fs in files.values() for f in fs)
    except Exception:  # noqa: BLE001 - unreadable inputs fail on the Ray path, with its error messages
        return None


def warm_ineligibility(req: TrainingJobRequest, settings: ClaraSettings, data_bytes: int | None) -> str | None:
    """Why the job cannot run on a warm worker (None: it can). `data_bytes` is `input_bytes` of the job."""
    t = settings.training
    if t.warm_pool_size == 0:
        return "warm pool off (training.warm_pool_size 0)"
    if req.sweep is not None:
        return "a sweep (its trials run on Ray Tune and Ray Train)"
    if req.trainer_type not in WARM_TRAINERS:
        return f"{req.trainer_type.value} needs its own quantised base"
    if (req.num_workers or t.num_workers) != 1:
        return "more than one worker (DDP runs on Ray Train)"
    if (t.use_gpu if req.use_gpu is None else req.use_gpu) != (t.warm_worker_gpus > 0):
        return "device differs from the warm workers'"
    if req.base_model not in (None, settings.model.base_model):
        return f"base model {req.base_model} is not the one the warm workers hold"
    if req.checkpoint_every_steps is not None:
        return "checkpoints requested (resume after a worker failure runs on Ray Train)"
    if data_bytes is None:
        return "input not local or not readable"
    if data_bytes > t.warm_max_data_mb * (1 << 20):
        return f"input {data_bytes / (1 << 20):.1f} MB > training.warm_max_data_mb"
    return None


def train_single(model, plan, train_blocks, val_blocks, device, sink: EventSink,
                 should_stop: Callable[[], bool] = lambda: False) -> dict:
    """One process, one rank: what ray_loop.train_loop_per_worker does for world size 1, minus checkpoints.
    Emits the same events (eval at step 0, steps, epoch evals, final eval) and returns the same metrics."""
    from clara_ray.training.loop import LoopState, evaluate, make_optimizer, perplexity, steps_per_epoch, \
        train_epoch

    t_start = time.time()
    optimizer = make_optimizer(model, plan.learning_rate)
    state = LoopState()
    spe = steps_per_epoch(len(train_blocks), plan.batch_size, plan.grad_accum_steps, 1)
    total = min(plan.max_steps or 10**12, spe * plan.epochs)
    pid = os.getpid()

    def eval_ppl() -> float:
        s, n = evaluate(model, val_blocks, plan.batch_size, device)
        return perplexity(s, int(n))

    metrics: dict = {"total_steps": total, "ppl_before": eval_ppl()}
    sink.emit({"kind": "eval", "step": 0, "perplexity": metrics["ppl_before"], "total_steps": total, "pid": pid},
              force=True)
    first_step_at: list[float] = []
    last: dict = {}

    def on_step(m: dict) -> None:
        if not first_step_at:
            first_step_at.append(time.time())
        last.update(m)
        sink.emit({"kind": "step", "total_steps": total, **m})
        if plan.eval_every_steps and m["step"] % plan.eval_every_steps == 0:
            sink.emit({"kind": "eval", "step": m["step"], "perplexity": eval_ppl()}, force=True)

    t_train = time.time()
    while state.step < total:
        epoch_before = state.epoch
        train_epoch(model, optimizer, train_blocks, state, batch_size=plan.batch_size,
                    grad_accum=plan.grad_accum_steps, total_steps=total, peak_lr=plan.learning_rate, seed=plan.seed,
                    device=device, on_step=on_step, should_stop=should_stop)
        if should_stop():
            raise JobStopped(f"job {plan.job_id} cancelled at step {state.step}")
        if state.epoch != epoch_before and state.step < total:
            sink.emit({"kind": "eval", "step": state.step, "epoch": epoch_before, "perplexity": eval_ppl()},
                      force=True)
    t_done = time.time()
    metrics.update(step=state.step, loss=last.get("loss"), ppl_after=eval_ppl(), train_tokens=int(state.tokens),
                   train_seconds=t_done - t_train, tokens_per_s=state.tokens / max(t_done - t_train, 1e-9),
                   t_worker_start=t_start, t_first_step=first_step_at[0] if first_step_at else t_done,
                   t_last_step=t_done, world_size=1)
    sink.emit({"kind": "eval", "step": state.step, "perplexity": metrics["ppl_after"], "final": True}, force=True)
    return metrics


@dataclass
class _Run:
    stop: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    result: dict | None = None
    error: BaseException | None = None


class WarmTrainer:
    """Holds the configured base model and its tokenizer; runs one job or evaluation on them at a time."""

    def __init__(self, settings: ClaraSettings, db: Database | None = None):
        import torch

        from clara_ray.model.chat_format import resolve_chat_template
        from clara_ray.model.tokenizer import load_tokenizer
        from clara_ray.training.modeling import load_base
        from clara_ray.training.pipeline import TrainingPipeline, base_model_path

        t0 = time.time()
        self.settings = settings
        self.device = torch.device("cuda" if settings.training.warm_worker_gpus > 0 else "cpu")
        self.pipeline = TrainingPipeline(settings, db)
        self.base_path = base_model_path(settings)
        self.tok = load_tokenizer(self.base_path, resolve_chat_template(settings.model.chat_template))
        self.base = load_base(self.base_path, self.device).eval()
        self._lock = threading.Lock()  # the held base takes one set of LoRA layers at a time
        self._runs: dict[str, _Run] = {}
        self._cancelled_early: set[str] = set()
        self._runs_lock = threading.Lock()  # start, cancel and pruning come from different threads
        self.jobs_run = self.evaluations_run = 0
        self.load_seconds = time.time() - t0

    # ---- jobs ---------------------------------------------------------------------------------------------------
    def start(self, job_id: str, request: dict, sink: EventSink) -> None:
        """Run the job in a thread of its own (idempotent: a job already known is left alone)."""
        with self._runs_lock:
            if job_id in self._runs:
                return
            run = self._runs[job_id] = _Run()
            if job_id in self._cancelled_early:  # the cancel overtook the start (calls to an actor's threads race)
                self._cancelled_early.discard(job_id)
                run.stop.set()

        def target() -> None:
            try:
                req = TrainingJobRequest.model_validate(request)
                run.result = self.run_job(job_id, req, sink, run.stop.is_set).__dict__
            except BaseException as e:  # noqa: BLE001 - handed to whoever waits
                run.error = e
            finally:
                try:
                    sink.close()  # every progress event is with the manager before the job reads as finished
                except Exception:  # noqa: BLE001 - a lost listener must not lose the result
                    log.exception("job %s: delivering the last progress events failed", job_id)
                run.done.set()
                self._forget_old()

        threading.Thread(target=target, name=f"warm-job-{job_id}", daemon=True).start()

    def wait(self, job_id: str) -> dict:
        """The job's JobResult as a dict once it ends (raises its error). Finished jobs stay answerable (the last
        KEEP_FINISHED of them): a manager that re-attaches (warm_router.py InProcessWarmPool.reattach) waits again and gets it."""
        run = self._runs.get(job_id)
        if run is None:
            raise UnknownWarmJob(job_id)
        run.done.wait()
        if run.error is not None:
            raise run.error
        return run.result

    KEEP_FINISHED = 64

    def _forget_old(self) -> None:
        with self._runs_lock:
            finished = [j for j, r in self._runs.items() if r.done.is_set()]  # insertion (start) order
            for job_id in finished[: max(0, len(finished) - self.KEEP_FINISHED)]:
                del self._runs[job_id]

    def cancel(self, job_id: str) -> bool:
        """Ask the job to stop after its current optimizer step, or before it starts (also when its `start` has
        not arrived yet); False if the job is not known yet."""
        with self._runs_lock:
            run = self._runs.get(job_id)
            if run is None:
                self._cancelled_early.add(job_id)
                return False
        run.stop.set()
        return True

    def run(self, job_id: str, request: dict, sink: EventSink) -> dict:
        """`start` then `wait`: one call that cannot overtake itself."""
        self.start(job_id, request, sink)
        return self.wait(job_id)

    def has(self, job_id: str) -> bool:
        return job_id in self._runs

    def _acquire(self, should_stop: Callable[[], bool], job_id: str) -> None:
        while not self._lock.acquire(timeout=0.2):  # an evaluation or another job holds the base
            if should_stop():
                raise JobStopped(f"job {job_id} cancelled before it started")
        if should_stop():
            self._lock.release()
            raise JobStopped(f"job {job_id} cancelled before it started")

    def run_job(self, job_id: str, req: TrainingJobRequest, sink: EventSink,
                should_stop: Callable[[], bool] = lambda: False):
        """The job end to end on the held base; returns the pipeline's JobResult (version registered)."""
        from clara_ray.records import QualityLimits
        from clara_ray.training.modeling import wrap_base
        from clara_ray.training.pipeline import dataset_paths
        from clara_ray.training.prepare import prepare_local

        t0 = time.time()
        pipe, s = self.pipeline, self.settings
        base, parent, plan = pipe.resolve_job(job_id, req)
        if plan.base_model_path != self.base_path:
            raise ValueError(f"job {job_id} is for base {plan.base_model_path}; this warm worker holds "
                             f"{self.base_path}")
        data = prepare_local(dataset_paths(pipe.db, req, s), spec=pipe.tokenization(req, plan),
                             block_size=plan.block_size, val_fraction=s.training.val_fraction,
                             limits=QualityLimits(s.data.min_length, s.data.max_length),
                             record_filter=req.record_filter)
        sink.emit({"kind": "data", **{k: v for k, v in data.stats.items() if k != "rejected_examples"}}, force=True)
        t_data = time.time()
        out = Path(tempfile.mkdtemp(prefix="clara-adapter-"))
        try:
            self._acquire(should_stop, job_id)
            try:
                model = wrap_base(plan, self.base)
                try:
                    metrics = train_single(model, plan, data.train_blocks, data.val_blocks, self.device, sink,
                                           should_stop)
                    model.save_pretrained(out / "adapter")
                finally:
                    model.unload()
            finally:
                self._ensure_clean()
                self._lock.release()
            t_fit = time.time()
            result = pipe._register(job_id, req, plan, base, parent, out / "adapter", metrics, data.stats)
        finally:
            shutil.rmtree(out, ignore_errors=True)
        self.jobs_run += 1
        result.metrics.update(prepare_seconds=t_data - t0, fit_seconds=t_fit - t_data,
                              register_seconds=time.time() - t_fit, t_registered=time.time(), t_submitted=t0,
                              runner="warm")
        return result

    def _ensure_clean(self) -> None:
        """The held base without LoRA layers and in eval mode; reloaded from disk if a failure left layers in."""
        from clara_ray.training.modeling import load_base

        if any("lora_" in name for name, _ in self.base.named_modules()):
            log.warning("warm worker: LoRA layers left on the base after a failure; reloading it")
            self.base = load_base(self.base_path, self.device)
        self.base.eval()

    # ---- evaluation -----------------------------------------------------------------------------------------------
    def evaluate(self, request, wait: bool = True):
        """A cycle's evaluation (learning/evaluator.py) on the held base; None when `wait` is False and the base is
        busy (the caller runs it elsewhere)."""
        from clara_ray.adapters.store import AdapterStore
        from clara_ray.learning.evaluator import evaluate_on_base

        if not self._lock.acquire(blocking=wait):
            return None
        try:
            store = AdapterStore.for_storage(self.settings.storage)
            cache = self.settings.storage.data_dir / "adapter-cache"
            active = str(store.local_path(request.active_uri, cache)) if request.active_uri else None
            candidate = str(store.local_path(request.candidate_uri, cache))
            try:
                result = evaluate_on_base(self.base, self.tok, active, candidate, request.sets, self.device.type)
            finally:
                self._ensure_clean()
            self.evaluations_run += 1
            return result
        finally:
            self._lock.release()
