"""The evaluation gate: promote a candidate only if validation improves enough and the regression set holds."""

from __future__ import annotations


def decide(before: dict, after: dict, *, min_improvement: float, max_regression: float) -> tuple[str, str]:
    """`before`/`after`: {"val_ppl", "regression_ppl"} of the active version and the candidate.

    Returns ("promoted" | "rejected", reason).
    """
    gain = (before["val_ppl"] - after["val_ppl"]) / before["val_ppl"]
    drift = (after["regression_ppl"] - before["regression_ppl"]) / before["regression_ppl"]
    summary = f"validation perplexity {before['val_ppl']:.3f} -> {after['val_ppl']:.3f} ({-gain:+.2%}), " \
              f"regression {before['regression_ppl']:.3f} -> {after['regression_ppl']:.3f} ({drift:+.2%})"
    if gain < min_improvement:
        return "rejected", f"{summary}: improvement below min_improvement {min_improvement:.2%}"
    if drift > max_regression:
        return "rejected", f"{summary}: regression above max_regression {max_regression:.2%}"
    return "promoted", summary
