"""Per-version rating figures from feedback by completion id: count, mean rating and corrections of each version."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

from sqlalchemy import and_, case, func, select

from clara_ray.db.engine import Database
from clara_ray.db.tables import AdapterVersion, Feedback


@dataclass(frozen=True)
class VersionRating:
    """What users said about one adapter version: every feedback on its logged completions, including thumbs-down
    that the buffer kept as a rating only (nothing to train on)."""

    version_id: str
    version_ref: str  # "baurecht@v3"
    status: str | None  # the version's registry status (active, candidate, ...)
    feedback: int
    mean_rating: float | None  # None without feedback
    corrections: int


def _figures(db: Database, where, rated_since: datetime | None = None) -> list[VersionRating]:
    corrected = func.count(case((func.length(Feedback.correction) > 0, Feedback.id)))  # "" is no correction
    joined = Feedback.version_id == AdapterVersion.id
    if rated_since is not None:  # in the join, not the WHERE: a version without such ratings still gets its row
        joined = and_(joined, Feedback.created_at >= rated_since)
    q = (select(AdapterVersion.id, AdapterVersion.name, AdapterVersion.version, AdapterVersion.status,
                func.count(Feedback.id), func.avg(Feedback.rating),
                corrected)
         .select_from(AdapterVersion)
         .outerjoin(Feedback, joined)
         .where(where)
         .group_by(AdapterVersion.id, AdapterVersion.name, AdapterVersion.version, AdapterVersion.status)
         .order_by(AdapterVersion.name, AdapterVersion.version.desc()))
    with db.session() as s:
        return [VersionRating(version_id=vid, version_ref=f"{name}@v{version}", status=status, feedback=n,
                              mean_rating=None if mean is None else round(float(mean), 4), corrections=c)
                for vid, name, version, status, n, mean, c in s.execute(q)]


def ratings_for_versions(db: Database, version_ids: Sequence[str],
                         rated_since: datetime | None = None) -> dict[str, VersionRating]:
    """Figures for these version ids (for the learning loop's gate); every id known to the registry is present.
    With `rated_since`, only feedback given at or after that time counts (a canary's window: the active version
    rated beside the canary, on the same days' traffic)."""
    if not version_ids:
        return {}
    return {r.version_id: r for r in _figures(db, AdapterVersion.id.in_(list(version_ids)), rated_since)}


def ratings_for_adapter(db: Database, alias: str) -> list[VersionRating]:
    """Figures for every version of one adapter, newest version first (versions without feedback included)."""
    return _figures(db, AdapterVersion.name == alias)
