"""Per-alias evaluation sets that grow: a fixed share of accepted feedback held out (never trained on), and every
evaluation prompt of an alias (so feedback repeating one is refused before training)."""

from __future__ import annotations

from sqlalchemy import select

from clara_ray.adapters.registry import AdapterRegistry
from clara_ray.db.engine import Database
from clara_ray.db.tables import Feedback
from clara_ray.learning.evaluate import NoEvaluationData, regression_records, validation_records
from clara_ray.records import RecordError, normalise

# Feedback.cycle_id of a held-out sample: no cycle ever claims it (like the buffer's "dropped" and "rating" markers);
# the gate scores candidates on it together with the alias's validation split.
EVAL_HOLDOUT = "eval"


def is_holdout(key: str, fraction: float) -> bool:
    """Deterministic by content (a retried sample lands on the same side). Uses other hash digits than the
    training/validation split (records.is_validation), so the two splits are independent."""
    return fraction > 0 and int(key[8:16], 16) / 0xFFFFFFFF < fraction


def holdout_records(db: Database, alias: str, limit: int) -> list:
    """The alias's held-out feedback as normalised records (prompt -> correction or answer), newest first."""
    if limit <= 0:
        return []
    with db.session() as s:
        rows = s.execute(select(Feedback.prompt, Feedback.response, Feedback.correction)
                         .where(Feedback.alias == alias, Feedback.cycle_id == EVAL_HOLDOUT)
                         .order_by(Feedback.created_at.desc()).limit(limit)).all()
    out = []
    for prompt, response, correction in rows:
        try:
            out.append(normalise({"prompt": prompt, "response": correction or response}))
        except RecordError:
            continue
    return out


def gate_validation_set(registry: AdapterRegistry, db: Database, alias: str, version_id: str, val_fraction: float,
                        max_records: int) -> tuple[list, int]:
    """What the gate's validation perplexity is measured on: the alias's validation split plus its held-out
    feedback (up to `max_records` in all). Returns (records, how many of them are held-out feedback).
    Raises NoEvaluationData when there is neither."""
    try:
        val = validation_records(registry, version_id, val_fraction)
    except NoEvaluationData:
        val = []
    held = holdout_records(db, alias, max(max_records - len(val), 0))
    if not val and not held:
        validation_records(registry, version_id, val_fraction)  # raises with the reason naming the alias
    return (val + held)[:max_records], len(held)


def prompt_key(text: str) -> str:
    """How prompts are compared: whitespace collapsed, case folded."""
    return " ".join(text.split()).casefold()


def prompts_of(items: list) -> set[str]:
    """Keys of the user turns of normalised records (a plain text record counts as its own prompt)."""
    out: set[str] = set()
    for item in items:
        if isinstance(item, str):
            out.add(prompt_key(item))
            continue
        out.update(prompt_key(m["content"]) for m in item if m.get("role") == "user" and m.get("content"))
    return out


def evaluation_prompts(registry: AdapterRegistry, db: Database, alias: str, version_id: str, val_fraction: float,
                       regression_path: str | None) -> set[str]:
    """Every prompt the gate evaluates `alias` on: its validation split, the regression set, its held-out feedback."""
    try:
        val = validation_records(registry, version_id, val_fraction)
    except NoEvaluationData:
        val = []
    with db.session() as s:
        held = set(s.scalars(select(Feedback.prompt).where(Feedback.alias == alias,
                                                            Feedback.cycle_id == EVAL_HOLDOUT)))
    return prompts_of(val) | prompts_of(regression_records(regression_path)) | {prompt_key(p) for p in held}
