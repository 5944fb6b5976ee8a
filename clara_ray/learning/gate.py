"""The evaluation gate: promote a candidate only if validation improves enough, the regression set holds and its
divergence from the active version stays within the forgetting budget; a rejection names every failed criterion."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from clara_ray.learning.settings import LearningSettings
from clara_ray.learning.evaluator import CycleEvaluation


class GateCriterion(str, Enum):
    """One criterion of the gate (the `code` of a failure)."""

    NO_IMPROVEMENT = "no_improvement"
    """Validation perplexity dropped by less than `learning.min_improvement`."""
    REGRESSION = "regression"
    """Regression-set perplexity rose by more than `learning.max_regression`."""
    FORGETTING = "forgetting"
    """Mean token KL(active || candidate) on the retained-skills set is above `learning.max_kl`."""


@dataclass(frozen=True)
class GateFailure:
    """A failed criterion: (code, message with the figure and the limit)."""

    code: GateCriterion
    message: str


@dataclass(frozen=True)
class GateLimits:
    min_improvement: float
    max_regression: float
    max_kl: float

    @classmethod
    def of(cls, cfg: LearningSettings) -> "GateLimits":
        return cls(cfg.min_improvement, cfg.max_regression, cfg.max_kl)


@dataclass(frozen=True)
class GateDecision:
    promoted: bool
    summary: str
    """Every figure: validation and regression perplexity before -> after, KL."""
    failures: tuple[GateFailure, ...]
    """Every failed criterion (empty when promoted)."""

    @property
    def reason(self) -> str:
        if self.promoted:
            return self.summary
        return f"{self.summary}; failed: " + "; ".join(f"{f.code.value}: {f.message}" for f in self.failures)


def decide(ev: CycleEvaluation, limits: GateLimits) -> GateDecision:
    """Check all three criteria on the evaluation of a cycle (active = before, candidate = after)."""
    b, a = ev.before, ev.after
    gain = (b.val_ppl - a.val_ppl) / b.val_ppl
    drift = (a.regression_ppl - b.regression_ppl) / b.regression_ppl
    summary = (f"validation perplexity {b.val_ppl:.3f} -> {a.val_ppl:.3f} ({-gain:+.2%}) on {ev.validation_records} "
               f"records, regression {b.regression_ppl:.3f} -> {a.regression_ppl:.3f} ({drift:+.2%}), "
               f"KL(active || candidate) {ev.kl:.4f}")
    failures = []
    if gain < limits.min_improvement:
        failures.append(GateFailure(GateCriterion.NO_IMPROVEMENT,
                                    f"validation perplexity improved {gain:.2%}, below min_improvement "
                                    f"{limits.min_improvement:.2%}"))
    if drift > limits.max_regression:
        failures.append(GateFailure(GateCriterion.REGRESSION,
                                    f"regression perplexity rose {drift:.2%}, above max_regression "
                                    f"{limits.max_regression:.2%}"))
    if ev.kl > limits.max_kl:
        failures.append(GateFailure(GateCriterion.FORGETTING,
                                    f"KL(active || candidate) {ev.kl:.4f} nats/token on the retained-skills set, "
                                    f"above max_kl {limits.max_kl}"))
    return GateDecision(promoted=not failures, summary=summary, failures=tuple(failures))
