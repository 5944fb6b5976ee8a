"""The declared state machines: learning cycles and adapter versions move only along their transition tables."""

from __future__ import annotations

import pytest

from clara_ray.adapters.registry import AdapterRegistry
from clara_ray.adapters.version_status import (VERSION_TRANSITIONS, IllegalTransition, VersionStatus,
                                               check_version_transition)
from clara_ray.db.tables import LearningCycle
from clara_ray.learning.cycle import CycleRunner
from clara_ray.learning.states import CYCLE_TRANSITIONS, CycleReason, CycleStatus, check_cycle_transition


def test_every_status_has_a_row_and_finished_ones_lead_nowhere():
    assert set(CYCLE_TRANSITIONS) == set(CycleStatus) and set(VERSION_TRANSITIONS) == set(VersionStatus)
    assert {s for s in CycleStatus if s.finished} == {CycleStatus.PROMOTED, CycleStatus.REJECTED,
                                                      CycleStatus.ROLLED_BACK, CycleStatus.FAILED}
    assert not CycleStatus.RUNNING.finished and not CycleStatus.CANARY.finished


@pytest.mark.parametrize("current,new,allowed", [
    ("running", CycleStatus.PROMOTED, True), ("running", CycleStatus.CANARY, True),
    ("canary", CycleStatus.ROLLED_BACK, True), ("canary", CycleStatus.PROMOTED, True),
    ("running", CycleStatus.ROLLED_BACK, False),  # only a canary is rolled back
    ("promoted", CycleStatus.FAILED, False), ("rejected", CycleStatus.PROMOTED, False),
])
def test_cycle_transitions(current, new, allowed):
    if allowed:
        assert check_cycle_transition(current, new) is new
    else:
        with pytest.raises(IllegalTransition, match=f"from {current} to {new.value}"):
            check_cycle_transition(current, new)


def test_version_transitions():
    assert check_version_transition("candidate", VersionStatus.CANARY) is VersionStatus.CANARY
    assert check_version_transition("archived", VersionStatus.ACTIVE) is VersionStatus.ACTIVE  # a rollback
    assert check_version_transition("active", VersionStatus.ACTIVE) is VersionStatus.ACTIVE  # staying put
    for current, new in [("purged", VersionStatus.ACTIVE), ("active", VersionStatus.CANDIDATE),
                         ("canary", VersionStatus.ARCHIVED)]:
        with pytest.raises(IllegalTransition):
            check_version_transition(current, new)


def test_registry_refuses_what_the_table_forbids(db):
    reg = AdapterRegistry(db)
    v1 = reg.register(name="bau", uri="/a/1", base_model="tiny", trainer_type="LORA", rank=8, status="candidate")
    reg.activate(v1.id)
    v2 = reg.register(name="bau", uri="/a/2", base_model="tiny", trainer_type="CONTINUOUS", rank=8,
                      status="candidate")
    reg.set_status(v2.id, VersionStatus.REJECTED, "gate")
    reg.set_status(v2.id, VersionStatus.PURGED, "retention")
    with pytest.raises(IllegalTransition, match="from purged to active"):
        reg.activate(v2.id)  # its files are gone: it can never serve again
    assert reg.resolve("bau").id == v1.id and reg.get_version(v1.id).status == "active"


def test_a_decided_cycle_keeps_its_decision(settings, db):
    runner = CycleRunner(settings, db, jobs=None, evaluate=None)
    runner.start_record("c1", "bau", "manual")
    with db.session() as s:
        s.get(LearningCycle, "c1").status = CycleStatus.PROMOTED.value
    assert runner.fail("c1", CycleReason.ERROR, "a late error")["status"] == "promoted"  # a failure after the decision changes nothing
    runner.start_record("c2", "bau", "manual")
    failed = runner.fail("c2", CycleReason.INTERRUPTED, "interrupted by a restart")
    assert (failed["status"], failed["reason_code"], failed["reason"]) == (
        "failed", "interrupted", "interrupted by a restart")
    with pytest.raises(IllegalTransition):
        runner._finish("c2", CycleStatus.PROMOTED)
