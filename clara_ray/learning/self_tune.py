"""Self-tuning of an alias's continuous recipe: when its cycles keep being rejected for "no improvement", the next
cycle trains as a small sweep (learning.self_tune_*) and a promoted winner becomes the alias's continuous recipe."""

from __future__ import annotations

from sqlalchemy import select

from clara_ray.config import ClaraSettings
from clara_ray.db.engine import Database
from clara_ray.db.tables import LearningCycle
from clara_ray.learning.gate import GateCriterion
from clara_ray.learning.states import CycleReason, CycleStatus
from clara_ray.training.alias_recipes import RecipeValues
from clara_ray.training.recipe import default_recipe
from clara_ray.training.sweep_spec import SweepSpace, SweepSpec

MAX_LR = 0.05
"""Upper bound of a self-tuning sweep's learning rates (beyond it LoRA training diverges on every model we know)."""


def rejected_for_no_improvement(row: LearningCycle) -> bool:
    failed = {f.get("code") for f in (row.metrics_after or {}).get("failed_criteria", [])}
    return (row.status == CycleStatus.REJECTED.value and row.reason_code == CycleReason.GATE_FAILED.value
            and GateCriterion.NO_IMPROVEMENT.value in failed)


def due(db: Database, alias: str, after: int) -> bool:
    """The alias's last `after` decided cycles were all rejected for no improvement."""
    decided = [s.value for s in (CycleStatus.PROMOTED, CycleStatus.REJECTED, CycleStatus.ROLLED_BACK)]
    with db.session() as s:
        rows = list(s.scalars(select(LearningCycle).where(LearningCycle.alias == alias,
                                                          LearningCycle.status.in_(decided))
                              .order_by(LearningCycle.started_at.desc()).limit(after)))
    return len(rows) == after and all(rejected_for_no_improvement(r) for r in rows)


def continuous_learning_rate(settings: ClaraSettings, recipe: RecipeValues | None) -> float:
    """The continuous learning rate a cycle of the alias uses now: its recipe, the config, the base's recipe (read
    from `model.base_model`'s config.json; nothing is loaded)."""
    return ((recipe.learning_rate if recipe else None) or settings.learning.learning_rate
            or settings.continuous.learning_rate
            or default_recipe(settings.model.base_model).continuous_learning_rate)


def self_tune_sweep(settings: ClaraSettings, current_lr: float) -> SweepSpec:
    """The sweep of a self-tuning cycle: "no improvement" means the step was too small, so the learning rate is
    searched upward from the one in effect by decades (1x, 10x, 100x, ... for `self_tune_trials` trials, at most
    MAX_LR): a grid, so the same cycle tries the same rates."""
    cfg = settings.learning
    rates = sorted({min(current_lr * 10 ** i, MAX_LR) for i in range(cfg.self_tune_trials)})
    return SweepSpec(space=SweepSpace(learning_rate=rates), search="grid",
                     time_budget_seconds=cfg.self_tune_time_budget_seconds, early_stopping=True,
                     save_recipe=False)  # saved by the cycle only once the gate promotes its winner
