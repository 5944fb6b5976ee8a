"""Feedback by completion id: resolve a reference against the completion log; the feedback given on completions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, Sequence

from pydantic import ValidationError
from sqlalchemy import select

from clara_ray.db.engine import Database
from clara_ray.db.tables import Feedback
from clara_ray.learning.buffer import DROPPED, RATING_ONLY
from clara_ray.learning.evalset import EVAL_HOLDOUT
from clara_ray.learning.feedback import FeedbackIn, FeedbackSample
from clara_ray.serving.completion_log import CompletionNotFound, CompletionRecord


class InvalidFeedbackReference(ValueError):
    """The referenced completion cannot take feedback (base model, no output) or the body contradicts it (HTTP 422).

    The message starts with the offending field."""


class CompletionLookup(Protocol):
    def get(self, completion_id: str) -> CompletionRecord | None: ...


@dataclass(frozen=True)
class FeedbackGiven:
    """Accepted feedback on one completion, as listed with it."""

    id: str
    rating: float
    correction: str | None
    importance: float
    source: str | None
    trained: bool  # claimed by a learning cycle
    created_at: datetime


def feedback_prompt(rec: CompletionRecord) -> str:
    """The prompt a feedback sample trains on: for chat completions the last user message (the training data
    applies the chat template itself, so the rendered prompt would be templated twice), else the prompt sent."""
    for message in reversed(rec.messages or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):  # OpenAI content parts
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            if isinstance(content, str) and content.strip():
                return content
    return rec.prompt


def resolve(body: FeedbackIn, completions: CompletionLookup | None, *, caller: str,
            may_read_all: bool) -> FeedbackSample:
    """The sample to store. Inline feedback as sent; by reference prompt, response, adapter and version come from
    the log. `caller`: the Principal's subject; `may_read_all`: it holds `completions:read` (any caller's)."""
    if body.completion_id is None:
        return body.sample()
    ref = body.completion_id
    rec = completions.get(ref) if completions is not None else None
    if rec is None or (not may_read_all and rec.caller != caller):
        raise CompletionNotFound(f"completion_id: no completion {ref!r}")
    if rec.version_id is None or rec.alias is None:
        raise InvalidFeedbackReference(
            f"completion_id: {ref!r} was answered by the base model; there is no adapter to retrain")
    if not rec.output:
        raise InvalidFeedbackReference(f"completion_id: {ref!r} has no output to rate")
    logged = {"prompt": feedback_prompt(rec), "response": rec.output, "adapter": rec.alias}
    for field, value in logged.items():
        sent = getattr(body, field)
        if sent is not None and sent != value:
            raise InvalidFeedbackReference(
                f"{field}: differs from the logged {field} of completion {ref!r}; omit it or send the logged value")
    try:
        return FeedbackSample(**logged, rating=body.rating, importance=body.importance, correction=body.correction,
                              source=body.source, completion_id=ref, version_id=rec.version_id)
    except ValidationError as e:
        first = e.errors()[0]
        raise InvalidFeedbackReference(
            f"completion_id: the logged completion is not a valid sample ({first['loc'][0]}: {first['msg']})") from None


def feedback_on(db: Database, completion_ids: Sequence[str]) -> dict[str, list[FeedbackGiven]]:
    """Accepted feedback per completion id (oldest first); ids without feedback are absent."""
    out: dict[str, list[FeedbackGiven]] = {}
    if not completion_ids:
        return out
    with db.session() as s:
        rows = s.scalars(select(Feedback).where(Feedback.completion_id.in_(list(completion_ids)))
                         .order_by(Feedback.created_at))
        for r in rows:
            out.setdefault(r.completion_id, []).append(FeedbackGiven(
                id=r.id, rating=r.rating, correction=r.correction, importance=r.importance, source=r.source,
                trained=r.cycle_id not in (None, DROPPED, RATING_ONLY, EVAL_HOLDOUT), created_at=r.created_at))
    return out
