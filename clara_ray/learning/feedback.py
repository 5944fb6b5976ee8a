"""Feedback samples: the request schema (inline or by completion id), the resolved sample, its quality score, and the
acknowledgement each sample gets."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from pydantic import BaseModel, Field, field_validator, model_validator

from clara_ray.records import content_hash, quality_problem, QualityLimits
from clara_ray.training.spec import check_adapter_name

INLINE_FIELDS = ("prompt", "response", "adapter")


class FeedbackSample(BaseModel):
    """One resolved sample, as the learning buffer scores and stores it (inline feedback, or a logged completion)."""

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
    completion_id: str | None = Field(None, max_length=64)
    """The logged completion this feedback is about (None: inline feedback)."""
    version_id: str | None = Field(None, max_length=32)
    """The adapter version that answered, from the completion log (None: unknown, inline feedback)."""

    _name = field_validator("adapter")(lambda cls, v: check_adapter_name(v))

    def target(self) -> str:
        """The answer to learn: the correction if given, else the response (only well-rated ones qualify)."""
        return self.correction or self.response

    def key(self) -> str:
        return content_hash(f"{self.adapter}\n{self.prompt}\n{self.target()}")


class FeedbackIn(BaseModel):
    """The body of POST /api/feedback: either inline (prompt, response, adapter) or by `completion_id`.

    By reference, prompt, response and adapter come from the completion log; sent as well, each must equal the
    logged value (else 422 naming the field), so a client cannot attach feedback on one answer to another.
    """

    model_config = {"extra": "forbid"}
    prompt: str | None = Field(None, min_length=1, max_length=20000)
    """What the user asked (omit with `completion_id`)."""
    response: str | None = Field(None, min_length=1, max_length=20000)
    """What the adapter answered (omit with `completion_id`)."""
    rating: float = Field(ge=0, le=1)
    """User rating, 0 (bad) .. 1 (good)."""
    importance: float = Field(1.0, ge=0, le=10)
    """Priority weight (e.g. expert reviewers > anonymous users)."""
    adapter: str | None = Field(None, max_length=48)
    """Alias the feedback is about, the adapter to retrain (omit with `completion_id`)."""
    correction: str | None = Field(None, max_length=20000)
    """The ideal response, when the user supplied one; trained on instead of `response`."""
    source: str | None = Field(None, max_length=64)
    """Where it came from (ui, api, reviewer, ...)."""
    completion_id: str | None = Field(None, min_length=1, max_length=64)
    """The `id` of a served completion ("chatcmpl-…", "cmpl-…", "gen-…"): prompt, response and adapter are
    taken from the completion log, and the stored sample names the version that answered."""

    @field_validator("adapter")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return None if v is None else check_adapter_name(v)

    @model_validator(mode="after")
    def _inline_or_reference(self) -> "FeedbackIn":
        if self.completion_id is None:
            missing = [f for f in INLINE_FIELDS if getattr(self, f) is None]
            if missing:
                raise ValueError(f"{', '.join(missing)}: required unless completion_id is given")
        return self

    def sample(self) -> FeedbackSample:
        """The inline sample (no completion_id); references are resolved by `feedback_refs.resolve`."""
        if self.completion_id is not None:
            raise ValueError("completion_id: feedback by reference must be resolved against the completion log")
        return FeedbackSample(**self.model_dump(exclude={"completion_id"}))


class FeedbackStatus(str, Enum):
    """What became of one feedback sample when it was acknowledged."""

    QUEUED = "queued"
    """Stored; waits for a learning cycle (never dropped unless `learning.overflow` is "drop_lowest")."""
    HELD_OUT = "held_out"
    """Stored in the alias's evaluation set (a `learning.eval_holdout_fraction` share of accepted feedback): the
    gate scores candidates on it; it is never trained on."""
    RATING_ONLY = "rating_only"
    """Nothing to train on (see `reason`), but stored as a rating of the version that answered (feedback by
    completion id)."""
    REJECTED = "rejected"
    """Not stored; `reason` says why. With `retryable` the buffer was full: send it again later."""


class RefusalCode(str, Enum):
    """Why a sample was refused or kept as a rating only (`FeedbackResult.reason_code`); `reason` says it in words
    with the figures."""

    DUPLICATE = "duplicate"
    """The same prompt and answer were sent before."""
    POOR_TEXT = "poor_text"
    """The text fails the data quality filter (too short, too long, mostly non-text)."""
    LOW_RATING = "low_rating"
    """A rating under 0.5 without a correction: nothing to learn from."""
    REPETITIVE = "repetitive"
    """The answer repeats a few words (low word diversity)."""
    LOW_QUALITY = "low_quality"
    """The quality score is under `learning.quality_threshold`."""
    UNKNOWN_ADAPTER = "unknown_adapter"
    """No alias of that name."""
    ALREADY_RATED = "already_rated"
    """Feedback on this completion was already given (one answer, one rating)."""
    EVALUATION_RECORD = "evaluation_record"
    """Its prompt is one the gate evaluates the alias on: evaluation data is never trained on."""
    OFF_DOMAIN = "off_domain"
    """Its relevance to the alias's data is below `learning.min_relevance`."""
    BUFFER_FULL = "buffer_full"
    """The learning buffer is full (`retryable`)."""


class FeedbackResult(BaseModel):
    """The acknowledgement of one feedback sample."""

    status: FeedbackStatus
    """queued | rating_only | rejected."""
    accepted: bool
    """True exactly when `status` is queued or held_out (kept for older clients)."""
    id: str | None = None
    """The stored sample's id (queued and rating_only)."""
    quality: float = 0.0
    """The quality score in [0, 1]."""
    reason: str | None = None
    """Why it was rejected or kept as a rating only, with the figures."""
    reason_code: RefusalCode | None = None
    """The same as a fixed code, for clients that count or branch on it."""
    rating_recorded: bool = False
    """Stored as a rating of the version that answered (status rating_only)."""
    retryable: bool = False
    """Rejected only because the learning buffer is full; the same sample may be sent again later."""
    retry_after: int | None = None
    """With `retryable`: seconds to wait before sending it again."""
    replayed: bool = False
    """An earlier request of the same caller stored this sample (same Idempotency-Key, or the identical sample):
    this is that request's result, nothing was stored twice."""


@dataclass(frozen=True)
class Refusal:
    code: RefusalCode
    message: str


def score(fb: FeedbackSample, limits: QualityLimits, seen: bool) -> tuple[float, Refusal | None]:
    """Quality in [0, 1] and why it is refused (None = acceptable on content; the threshold still applies)."""
    if seen:
        return 0.0, Refusal(RefusalCode.DUPLICATE, "duplicate of an earlier sample")
    text = f"{fb.prompt}\n{fb.target()}"
    problem = quality_problem(text, limits)
    if problem:
        return 0.0, Refusal(RefusalCode.POOR_TEXT, problem)
    if fb.correction is None and fb.rating < 0.5:
        return fb.rating, Refusal(RefusalCode.LOW_RATING, "low rating without a correction: nothing to learn from")
    words = fb.target().split()
    diversity = len(set(words)) / max(len(words), 1)  # repeated-token spam scores low
    if diversity < 0.3:
        return diversity, Refusal(RefusalCode.REPETITIVE, f"repetitive text (word diversity {diversity:.2f})")
    quality = 0.4 + 0.3 * (1.0 if fb.correction else fb.rating) + 0.3 * min(1.0, diversity / 0.6)
    return min(quality, 1.0), None
