"""What a hyperparameter sweep asks for (search space over the recipe, budget, early stopping) and what it reports.

A sweep is a training job with a `sweep` section: the job's own fields are the fixed part of the recipe, the
space names the fields that vary, and the best trial's adapter becomes the job's version (training/tune_sweep.py
runs it on Ray Tune around the same Ray Train loop as any job).
"""

from __future__ import annotations

import enum
import math
from typing import Literal

from pydantic import BaseModel, Field, model_validator

TUNABLE = ("learning_rate", "r", "alpha", "dropout", "epochs", "max_steps", "target_modules")
"""Recipe fields a sweep may vary (TrainPlan field names)."""
SHAPE_FIELDS = ("r", "alpha", "target_modules")
"""Fields that decide the adapter's shape: fixed by the parent in CONTINUOUS jobs."""


class SweepRange(BaseModel):
    """A continuous range, sampled uniformly (or log-uniformly with `log`)."""

    model_config = {"extra": "forbid"}
    min: float
    """Lowest value."""
    max: float
    """Highest value."""
    log: bool = False
    """Sample on a log scale (learning rates)."""

    @model_validator(mode="after")
    def _ordered(self) -> "SweepRange":
        if not (math.isfinite(self.min) and math.isfinite(self.max)) or self.min >= self.max:
            raise ValueError("min must be below max (both finite)")
        if self.log and self.min <= 0:
            raise ValueError("a log range needs min > 0")
        return self


class SweepSpace(BaseModel):
    """The recipe fields that vary: a list of values (one is drawn per trial) or a range. Unset fields keep the
    job's value (its own, the alias's recipe, the config, the base model's recipe)."""

    model_config = {"extra": "forbid"}
    learning_rate: list[float] | SweepRange | None = None
    """Peak learning rates, e.g. {"min": 1e-4, "max": 1e-2, "log": true}."""
    r: list[int] | None = None
    """LoRA ranks."""
    alpha: list[int] | None = None
    """LoRA alphas."""
    dropout: list[float] | SweepRange | None = None
    """LoRA dropouts."""
    epochs: list[int] | None = None
    """Passes over the data (also the early-stopping scheduler's longest trial, in evaluations)."""
    max_steps: list[int] | None = None
    """Optimizer-step caps."""
    target_modules: list[list[str]] | None = None
    """Sets of modules to adapt, e.g. [["q_proj", "v_proj"], ["q_proj", "k_proj", "v_proj", "o_proj"]]."""

    @model_validator(mode="after")
    def _valid_values(self) -> "SweepSpace":
        varied = self.varied()
        if not varied:
            raise ValueError("the sweep space varies nothing: set at least one of " + ", ".join(TUNABLE))
        for name, values in varied.items():
            if isinstance(values, list):
                if not values or len(values) > 32:
                    raise ValueError(f"{name}: give 1 to 32 values")
                if name in ("r", "alpha", "epochs", "max_steps") and any(v < 1 for v in values):
                    raise ValueError(f"{name}: values must be >= 1")
                if name == "learning_rate" and any(not 0 < v <= 1 for v in values):
                    raise ValueError("learning_rate: values must be in (0, 1]")
                if name == "dropout" and any(not 0 <= v < 1 for v in values):
                    raise ValueError("dropout: values must be in [0, 1)")
                if name == "target_modules" and any(not m for m in values):
                    raise ValueError("target_modules: every set needs at least one module")
        lr = self.learning_rate
        if isinstance(lr, SweepRange) and not (0 < lr.min and lr.max <= 1):
            raise ValueError("learning_rate: the range must lie in (0, 1]")
        if isinstance(self.dropout, SweepRange) and not (0 <= self.dropout.min and self.dropout.max < 1):
            raise ValueError("dropout: the range must lie in [0, 1)")
        return self

    def varied(self) -> dict:
        """{field: values or range} of the fields this space varies."""
        return {k: getattr(self, k) for k in TUNABLE if getattr(self, k) is not None}


class SweepSpec(BaseModel):
    """A sweep's search space and budget."""

    model_config = {"extra": "forbid"}
    space: SweepSpace
    """The recipe fields that vary."""
    search: Literal["random", "grid"] = "random"
    """"random": `trials` configurations drawn from the space (a list is drawn from, a range sampled); "grid": one
    trial per combination of the lists (no ranges), `trials` ignored."""
    trials: int = Field(4, ge=1, le=64)
    """Trials to run with random search."""
    max_concurrent_trials: int | None = Field(None, ge=1, le=64)
    """Trials running at once; default `training.sweep_max_concurrent_trials` (each trial is a Ray Train run with the
    job's workers, so this times the job's resources must fit the cluster)."""
    time_budget_seconds: float | None = Field(None, gt=0)
    """Stop starting and running trials after this long; the best finished trial still wins."""
    early_stopping: bool = True
    """Stop trials whose validation perplexity trails the others' at the same point (ASHA)."""
    grace_period: int = Field(1, ge=1)
    """Evaluations every trial gets before early stopping may end it."""
    save_recipe: bool = False
    """Save the winning configuration as the alias's recipe (used by its later jobs and learning cycles)."""

    @model_validator(mode="after")
    def _grid_of_lists(self) -> "SweepSpec":
        if self.search == "grid":
            varied = self.space.varied()
            ranges = [k for k, v in varied.items() if isinstance(v, SweepRange)]
            if ranges:
                raise ValueError(f"space: a grid search takes lists only, not ranges ({', '.join(ranges)})")
            if math.prod(len(v) for v in varied.values()) > 64:
                raise ValueError("space: a grid search of more than 64 combinations")
        return self

    @property
    def trial_count(self) -> int:
        """Trials the sweep runs."""
        if self.search == "grid":
            return math.prod(len(v) for v in self.space.varied().values())
        return self.trials


class TrialStatus(str, enum.Enum):
    """Where one trial of a sweep stands."""

    PENDING = "pending"
    RUNNING = "running"
    STOPPED_EARLY = "stopped_early"
    """Ended by the early-stopping scheduler: its curve trailed the others'."""
    COMPLETED = "completed"
    FAILED = "failed"


class TrialView(BaseModel):
    """One trial as the API, the WebSocket and the console show it."""

    trial_id: str
    status: TrialStatus
    config: dict
    """The varied fields' values of this trial."""
    evaluations: int = 0
    """Validation evaluations reported so far (the scheduler's time axis)."""
    val_perplexity: float | None = None
    """The latest validation perplexity."""
    curve: list[float] = []
    """Validation perplexity after each evaluation."""
    error: str | None = None


def check_sweep_for(space: SweepSpace, continuous: bool) -> None:
    """CONTINUOUS jobs continue the parent's adapter: its shape (rank, alpha, modules) cannot vary."""
    fixed = [f for f in SHAPE_FIELDS if getattr(space, f) is not None]
    if continuous and fixed:
        raise ValueError(f"sweep.space: {', '.join(fixed)} cannot vary in a CONTINUOUS job (the parent fixes them)")
