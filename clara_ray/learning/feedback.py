"""Feedback samples: the request schema and the quality score that accepts or rejects each one with a reason."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from clara_ray.records import content_hash, quality_problem, QualityLimits
from clara_ray.training.spec import check_adapter_name


class FeedbackIn(BaseModel):
    model_config = {"extra": "forbid"}
    prompt: str = Field(min_length=1, max_length=20000)
    """What the user asked."""
    response: str = Field(min_length=1, max_length=20000)
    """What the adapter answered."""
    rating: float = Field(ge=0, le=1)
    """User rating, 0 (bad) .. 1 (good)."""
    importance: float = Field(1.0, ge=0, le=10)
    """Priority weight (e.g. expert reviewers > anonymous users)."""
    adapter: str = Field(max_length=48)
    """Alias the feedback is about (the adapter to retrain)."""
    correction: str | None = Field(None, max_length=20000)
    """The ideal response, when the user supplied one; trained on instead of `response`."""
    source: str | None = Field(None, max_length=64)
    """Where it came from (ui, api, reviewer, ...)."""

    _name = field_validator("adapter")(lambda cls, v: check_adapter_name(v))

    def target(self) -> str:
        """The answer to learn: the correction if given, else the response (only well-rated ones qualify)."""
        return self.correction or self.response

    def key(self) -> str:
        return content_hash(f"{self.adapter}\n{self.prompt}\n{self.target()}")


def score(fb: FeedbackIn, limits: QualityLimits, seen: bool) -> tuple[float, str | None]:
    """Quality in [0, 1] and the rejection reason (None = acceptable on content; the threshold still applies)."""
    if seen:
        return 0.0, "duplicate of an earlier sample"
    text = f"{fb.prompt}\n{fb.target()}"
    problem = quality_problem(text, limits)
    if problem:
        return 0.0, problem
    if fb.correction is None and fb.rating < 0.5:
        return fb.rating, "low rating without a correction: nothing to learn from"
    words = fb.target().split()
    diversity = len(set(words)) / max(len(words), 1)  # repeated-token spam scores low
    if diversity < 0.3:
        return diversity, f"repetitive text (word diversity {diversity:.2f})"
    quality = 0.4 + 0.3 * (1.0 if fb.correction else fb.rating) + 0.3 * min(1.0, diversity / 0.6)
    return min(quality, 1.0), None
