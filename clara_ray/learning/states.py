"""The learning cycle as a declared state machine: its statuses as an enum, the allowed transitions as a table, every
change checked (IllegalTransition names both ends). Values are the strings stored in the database."""

from __future__ import annotations

from enum import Enum

from clara_ray.adapters.version_status import IllegalTransition

__all__ = ["CycleStatus", "CycleReason", "CYCLE_TRANSITIONS", "IllegalTransition", "check_cycle_transition"]


class CycleStatus(str, Enum):
    RUNNING = "running"
    """Claimed feedback is being turned into a candidate: data, training, evaluation, gate."""
    CANARY = "canary"
    """The candidate passed the offline gate and serves `learning.canary_fraction` of its alias's traffic while
    live ratings accumulate (learning/canary.py)."""
    PROMOTED = "promoted"
    """The candidate is the alias's active version."""
    REJECTED = "rejected"
    """The offline gate refused the candidate; `failed_criteria` says why."""
    ROLLED_BACK = "rolled_back"
    """The canary's live ratings were worse than the active version's, or it ran out of time."""
    FAILED = "failed"
    """No decision: no evaluation data, the training job failed, or the buffer restarted mid-cycle."""

    @property
    def finished(self) -> bool:
        return not CYCLE_TRANSITIONS[self]


CYCLE_TRANSITIONS: dict[CycleStatus, frozenset[CycleStatus]] = {
    CycleStatus.RUNNING: frozenset({CycleStatus.CANARY, CycleStatus.PROMOTED, CycleStatus.REJECTED,
                                    CycleStatus.FAILED}),
    CycleStatus.CANARY: frozenset({CycleStatus.PROMOTED, CycleStatus.ROLLED_BACK, CycleStatus.FAILED}),
    CycleStatus.PROMOTED: frozenset(),
    CycleStatus.REJECTED: frozenset(),
    CycleStatus.ROLLED_BACK: frozenset(),
    CycleStatus.FAILED: frozenset(),
}


class CycleReason(str, Enum):
    """Why a cycle reached its status, as a fixed code (`reason_code`); `reason` says it with the figures."""

    GATE_PASSED = "gate_passed"
    """Every offline criterion held (promoted, or a canary started)."""
    GATE_FAILED = "gate_failed"
    """At least one offline criterion failed; `failed_criteria` lists each with its figure."""
    CANARY_RATINGS_HELD = "canary_ratings_held"
    """The canary's live ratings were not worse than the active version's by more than the margin."""
    CANARY_RATINGS_WORSE = "canary_ratings_worse"
    """The canary's live ratings were worse than the active version's by more than the margin."""
    CANARY_TIMED_OUT = "canary_timed_out"
    """Not enough rated answers within `learning.canary_max_seconds`."""
    OPERATOR = "operator"
    """Ended by hand (a canary promoted or rolled back through the API)."""
    NO_EVALUATION_DATA = "no_evaluation_data"
    """The alias has no validation records: the gate could not decide, nothing was trained."""
    TRAINING_FAILED = "training_failed"
    """The cycle's training job failed, was cancelled or timed out."""
    INTERRUPTED = "interrupted"
    """The learning buffer restarted while the cycle ran; its samples went back to the buffer."""
    NOTHING_PENDING = "nothing_pending"
    """The trigger fired but no sample was left to claim."""
    ERROR = "error"
    """An unexpected error (logged with its traceback); the samples went back to the buffer."""


def check_cycle_transition(current: str | CycleStatus, new: CycleStatus) -> CycleStatus:
    """`new`, when the cycle may go there from `current`; IllegalTransition otherwise."""
    cur = CycleStatus(current)
    if new not in CYCLE_TRANSITIONS[cur]:
        raise IllegalTransition(f"learning cycle cannot go from {cur.value} to {new.value}")
    return new
