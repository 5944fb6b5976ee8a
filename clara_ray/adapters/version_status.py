"""An adapter version's lifecycle as a declared state machine: statuses as an enum, allowed transitions as a table,
every change checked by the registry. Values are the strings stored in the database."""

from __future__ import annotations

from enum import Enum


class IllegalTransition(RuntimeError):
    """A status change the machine does not allow (a bug, or two writers racing on one row)."""


class VersionStatus(str, Enum):
    CANDIDATE = "candidate"
    """Registered by a job, not (yet) what its alias serves; servable when named exactly."""
    CANARY = "canary"
    """Serving a share of its alias's traffic during a canary."""
    ACTIVE = "active"
    """What its alias serves."""
    ARCHIVED = "archived"
    """Replaced by a newer active version, or unloaded; kept for rollback."""
    REJECTED = "rejected"
    """Refused by the gate or rolled back from a canary."""
    PURGED = "purged"
    """A rejected version whose files retention deleted: refused even when pinned."""


VERSION_TRANSITIONS: dict[VersionStatus, frozenset[VersionStatus]] = {
    VersionStatus.CANDIDATE: frozenset({VersionStatus.ACTIVE, VersionStatus.CANARY, VersionStatus.REJECTED,
                                        VersionStatus.ARCHIVED}),
    VersionStatus.CANARY: frozenset({VersionStatus.ACTIVE, VersionStatus.REJECTED}),
    VersionStatus.ACTIVE: frozenset({VersionStatus.ARCHIVED}),
    # rollback; unload twice; marked bad after it was superseded
    VersionStatus.ARCHIVED: frozenset({VersionStatus.ACTIVE, VersionStatus.ARCHIVED, VersionStatus.REJECTED}),
    VersionStatus.REJECTED: frozenset({VersionStatus.ACTIVE, VersionStatus.PURGED, VersionStatus.ARCHIVED}),
    VersionStatus.PURGED: frozenset(),
}


def check_version_transition(current: str | VersionStatus, new: VersionStatus) -> VersionStatus:
    """`new`, when an adapter version may go there from `current` (staying put is always allowed)."""
    cur = VersionStatus(current)
    if new != cur and new not in VERSION_TRANSITIONS[cur]:
        raise IllegalTransition(f"adapter version cannot go from {cur.value} to {new.value}")
    return new
