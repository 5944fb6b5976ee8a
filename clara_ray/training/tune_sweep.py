"""A sweep on Ray Tune: one trial per drawn recipe, each a Ray Train run of the job's loop, ASHA on validation perplexity.

Ray Train V2 with Tune: every trial is a small Tune function that builds the job's TorchTrainer for its recipe and
forwards the workers' reports to Tune (TuneReportCallback). The workers report each validation evaluation, so the
scheduler can stop trials whose curve trails; the best finished trial's final checkpoint is the sweep's adapter.
Everything the trials wrote under `storage.checkpoint_uri` is deleted afterwards.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from clara_ray.training.packing import Blocks
from clara_ray.training.ray_loop import ADAPTER_SUBDIR, build_trainer, run_name
from clara_ray.training.spec import TrainPlan
from clara_ray.training.sweep_spec import SweepRange, SweepSpec, TrialStatus, TrialView

log = logging.getLogger("clara.sweep")

METRIC = "val_perplexity"
TRIAL_CPUS = 0.01
"""The Tune function of a trial only waits on its Ray Train run; the run's workers reserve the real resources."""


def param_space(spec: SweepSpec) -> dict:
    """Ray Tune's search space for the spec's varied fields."""
    from ray import tune

    out = {}
    for name, values in spec.space.varied().items():
        if isinstance(values, SweepRange):
            out[name] = (tune.loguniform if values.log else tune.uniform)(values.min, values.max)
        else:
            out[name] = tune.grid_search(values) if spec.search == "grid" else tune.choice(values)
    return out


def with_recipe(plan: TrainPlan, config: dict) -> TrainPlan:
    """The job's plan with a trial's values of the varied fields (Tune may hand integers back as floats)."""
    return plan.model_copy(update={k: (int(v) if k in ("r", "alpha", "epochs", "max_steps") else v)
                                   for k, v in config.items()})


def trial_plan(plan: TrainPlan, config: dict, trial_id: str) -> TrainPlan:
    """One trial's run: the job's plan with its recipe. Trials checkpoint only at their end (a failed trial is not
    resumed; the sweep goes on without it)."""
    return with_recipe(plan, config).model_copy(update={"job_id": f"{plan.job_id}-{trial_id}",
                                                        "checkpoint_every_steps": 10**9, "max_failures": 0})


def longest_trial(plan: TrainPlan, spec: SweepSpec) -> int:
    """Evaluations of the longest possible trial (one per epoch): the early-stopping scheduler's max_t."""
    return max(spec.space.epochs or [plan.epochs])


@dataclass
class SweepOutcome:
    best: TrialView
    plan: TrainPlan
    """The job's plan with the best trial's recipe (what the version is registered with)."""
    metrics: dict
    """The best trial's final metrics (as a single job's)."""
    adapter_dir: Path
    """Local folder with the best trial's adapter; remove its parent when done."""
    trials: list[TrialView]


class TrialBoard:
    """Keeps every trial's view and sends the whole table on each change (`on_event({"kind": "trial", ...})`)."""

    def __init__(self, on_event: Callable[[dict], None]):
        self.on_event = on_event
        self.trials: dict[str, TrialView] = {}  # Tune calls its callbacks on its driver thread: no lock needed

    def update(self, trial_id: str, **fields) -> None:
        view = self.trials.get(trial_id) or TrialView(trial_id=trial_id, status=TrialStatus.PENDING, config={})
        self.trials[trial_id] = view.model_copy(update=fields)
        table = [t.model_dump(mode="json") for t in self.trials.values()]
        self.on_event({"kind": "trial", "trial_id": trial_id, "trials": table})


def _tune_callback(board: "TrialBoard"):
    from ray.tune import Callback

    class SweepProgress(Callback):
        """Tune's trial events as the board's table."""

        def __init__(self):
            self.final: set[str] = set()

        def on_trial_start(self, iteration, trials, trial, **info):
            board.update(trial.trial_id, status=TrialStatus.RUNNING,
                         config={k: v for k, v in trial.config.items()})

        def on_trial_result(self, iteration, trials, trial, result, **info):
            if METRIC in result:
                if "ppl_after" in result:
                    self.final.add(trial.trial_id)
                view = board.trials[trial.trial_id]
                value = float(result[METRIC])
                board.update(trial.trial_id, status=TrialStatus.RUNNING, val_perplexity=value,
                             curve=[*view.curve, value], evaluations=view.evaluations + 1)

        def on_trial_complete(self, iteration, trials, trial, **info):
            done = trial.trial_id in self.final
            board.update(trial.trial_id, status=TrialStatus.COMPLETED if done else TrialStatus.STOPPED_EARLY)

        def on_trial_error(self, iteration, trials, trial, **info):
            error = str(getattr(trial, "error_msg", None) or "the trial failed").strip().splitlines()[-1][:300]
            board.update(trial.trial_id, status=TrialStatus.FAILED, error=error)

    return SweepProgress()


def _run_trial(config: dict, *, plan: TrainPlan, refs: dict) -> None:
    """One trial, inside Tune: the job's Ray Train run with this trial's recipe."""
    from ray import tune
    from ray.tune.integration.ray_train import TuneReportCallback

    trial = trial_plan(plan, config, tune.get_context().get_trial_id())
    build_trainer(trial, refs["train"][0], refs["val"][0], report_evals=True,
                  callbacks=[TuneReportCallback()]).fit()


def run_sweep(plan: TrainPlan, spec: SweepSpec, train_blocks: Blocks, val_blocks: Blocks, *,
              max_concurrent: int, on_event: Callable[[dict], None]) -> SweepOutcome:
    """Run the sweep; returns the best finished trial. Raises when no trial finished."""
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    board = TrialBoard(on_event)
    # Halving (reduction factor 2), not ASHA's default 4: sweeps here are a handful of trials, and with 4 a trial
    # is only stopped once four others have passed its evaluation.
    scheduler = ASHAScheduler(max_t=longest_trial(plan, spec), grace_period=spec.grace_period,
                              reduction_factor=2) if spec.early_stopping else FIFOScheduler()
    refs = {"train": [ray.put(train_blocks)], "val": [ray.put(val_blocks)]}  # lists: passed as refs, not resolved
    trainable = tune.with_resources(tune.with_parameters(_run_trial, plan=plan, refs=refs), {"CPU": TRIAL_CPUS})
    tuner = tune.Tuner(
        trainable,
        param_space=param_space(spec),
        tune_config=tune.TuneConfig(metric=METRIC, mode="min", scheduler=scheduler, num_samples=1 if spec.search == "grid" else spec.trials,
                                    max_concurrent_trials=spec.max_concurrent_trials or max_concurrent,
                                    time_budget_s=spec.time_budget_seconds),
        run_config=tune.RunConfig(name=sweep_name(plan), storage_path=plan.checkpoint_uri, verbose=0,
                                  callbacks=[_tune_callback(board)]),
    )
    try:
        grid = tuner.fit()
        finished = [r for r in grid if r.metrics and "ppl_after" in r.metrics and r.error is None]
        if not finished:
            errors = [t.error for t in board.trials.values() if t.error]
            raise RuntimeError("no trial of the sweep finished" + (f": {errors[0]}" if errors else ""))
        best = min(finished, key=lambda r: r.metrics[METRIC])
        best_id = best.metrics["trial_id"]
        adapter_dir = _download_adapter(best.metrics["checkpoint_path"], plan.checkpoint_uri)
        view = board.trials[best_id]
        return SweepOutcome(best=view, plan=with_recipe(plan, view.config),
                            metrics=dict(best.metrics), adapter_dir=adapter_dir, trials=list(board.trials.values()))
    finally:
        remove_sweep_files(plan)


def sweep_name(plan: TrainPlan) -> str:
    """The Tune experiment's folder under `storage.checkpoint_uri`."""
    return f"clara-sweep-{plan.name}-{plan.job_id}"


def _storage(uri: str):
    import pyarrow.fs

    return pyarrow.fs.FileSystem.from_uri(uri if "://" in uri else str(Path(uri).resolve()))


def _download_adapter(checkpoint_path: str, checkpoint_uri: str) -> Path:
    """The best trial's final checkpoint (a path in the checkpoint store) as a local adapter folder."""
    from ray.train import Checkpoint

    fs, _ = _storage(checkpoint_uri)
    local = Path(tempfile.mkdtemp(prefix="clara-sweep-adapter-"))
    Checkpoint(path=checkpoint_path, filesystem=fs).to_directory(str(local))
    return local / ADAPTER_SUBDIR


def remove_sweep_files(plan: TrainPlan) -> None:
    """Delete the Tune experiment and every trial's Ray Train run under the checkpoint store."""
    import pyarrow.fs

    fs, root = _storage(plan.checkpoint_uri)
    prefix = run_name(plan) + "-"  # trials' runs: clara-<name>-<job id>-<trial id>
    try:
        entries = fs.get_file_info(pyarrow.fs.FileSelector(root, allow_not_found=True))
    except OSError:
        return
    for info in entries:
        name = info.path.rstrip("/").rsplit("/", 1)[-1]
        if info.type == pyarrow.fs.FileType.Directory and (name.startswith(prefix) or name == sweep_name(plan)):
            try:
                fs.delete_dir(info.path)
            except OSError as e:  # noqa: PERF203 - logged; the retention routine may try again
                log.warning("could not delete sweep folder %s: %s", name, e)
