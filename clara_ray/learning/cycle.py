"""One learning cycle: claimed feedback -> CONTINUOUS job -> evaluate candidate vs active -> gate -> promote or reject."""

from __future__ import annotations

import logging
import time
from typing import Awaitable, Callable

from clara_ray.adapters.registry import AdapterRegistry
from clara_ray.config import ClaraSettings
from clara_ray.db.engine import Database
from clara_ray.db.tables import LearningCycle, utcnow
from clara_ray.learning.evaluate import NoEvaluationData, regression_records
from clara_ray.learning.evalset import gate_validation_set
from clara_ray.learning.evaluator import CycleEvaluation, EvalRequest, EvalSets
from clara_ray.learning.gate import GateLimits, decide
from clara_ray.learning.states import CycleReason, CycleStatus, check_cycle_transition
from clara_ray.adapters.version_status import VersionStatus
from clara_ray.learning.training_set import Search, TrainingSetBuilder
from clara_ray.serving.revision_client import announce_alias
from clara_ray.learning import self_tune
from clara_ray.training.alias_recipes import AliasRecipes, RecipeValues
from clara_ray.training.control import JobsControl
from clara_ray.training.spec import TrainerType, TrainingJobRequest

log = logging.getLogger("clara.learning")

# evaluate(request) -> both versions scored on every set, the base loaded once (learning/evaluator.py); a Ray task
# with configured resources in the actor, a fake in unit tests.
Evaluate = Callable[[EvalRequest], Awaitable[CycleEvaluation]]


class CycleFailed(Exception):
    pass


class CycleRunner:
    def __init__(self, settings: ClaraSettings, db: Database, jobs: JobsControl, evaluate: Evaluate,
                 search: Search | None = None):
        self.settings, self.db, self.jobs, self.evaluate = settings, db, jobs, evaluate
        self.registry = AdapterRegistry(db)
        self.training_set = TrainingSetBuilder(settings, self.registry, search)  # feedback + replay + search
        self.recipes = AliasRecipes(db)

    def start_record(self, cycle_id: str, alias: str, trigger: str) -> None:
        active = self.registry.alias(alias)
        with self.db.session() as s:
            s.add(LearningCycle(id=cycle_id, alias=alias, trigger=trigger, status=CycleStatus.RUNNING.value,
                                active_version_id=active.version_id if active else None))

    def _finish(self, cycle_id: str, status: CycleStatus, code: CycleReason | None = None, **fields) -> dict:
        """Move the cycle to `status` (checked against the transition table), with why (`code`, and `reason` in
        `fields`), and store what it found."""
        with self.db.session() as s:
            row = s.get(LearningCycle, cycle_id, with_for_update=True)
            row.status = check_cycle_transition(row.status, status).value
            row.reason_code = code.value if code else row.reason_code
            for k, v in fields.items():
                setattr(row, k, v)
            row.finished_at = utcnow() if status.finished else None  # a CANARY cycle waits for live ratings
        return cycle_view(row)

    async def run(self, cycle_id: str, alias: str, samples: list) -> dict:
        """Train, evaluate and decide; returns the finished cycle. Raises CycleFailed when training fails."""
        cfg, t0 = self.settings.learning, time.time()
        durations: dict[str, float | dict] = {}  # seconds per phase, and "training_data": counts per source
        active = self.registry.resolve(alias)
        try:  # before any training: without a validation set the gate could not decide
            val, held_out = gate_validation_set(self.registry, self.db, alias, active.id,
                                                self.settings.training.val_fraction, cfg.max_eval_records)
        except NoEvaluationData as e:
            self._finish(cycle_id, CycleStatus.FAILED, CycleReason.NO_EVALUATION_DATA, reason=str(e),
                         durations=durations)
            raise CycleFailed(str(e)) from None
        data = f"{self.settings.learning_data_uri}/{cycle_id}.jsonl"  # read by the job, on whichever node it runs
        training_set = await self.training_set.build(cycle_id, active.id, samples)  # learning/training_set.py
        training_set.write(data, self.settings.storage.object_store_options)
        durations["training_data"] = training_set.counts.model_dump()
        durations["prepare"] = time.time() - t0
        recipe = self.recipes.values_for(alias, continuous=True)  # the alias's own continuous recipe, if any
        sweep = None
        if cfg.self_tune_trials and self_tune.due(self.db, alias, cfg.self_tune_after_rejections):
            sweep = self_tune.self_tune_sweep(self.settings, self_tune.continuous_learning_rate(self.settings, recipe))
        req = TrainingJobRequest(
            name=alias, trainer_type=TrainerType.CONTINUOUS, data_paths=[data], parent=f"{alias}@v{active.version}",
            activate="never", priority=2, sweep=sweep,
            # learning.* apply unless the alias has a recipe of its own (then: it, continuous.*, the base's recipe)
            epochs=None if recipe else cfg.epochs, learning_rate=None if recipe else cfg.learning_rate,
            domain=active.domain, description=active.description)  # what the router matches on stays the alias's
        t1 = time.time()
        job = await self.jobs.create(req, "learning-loop")
        with self.db.session() as s:
            row = s.get(LearningCycle, cycle_id)
            row.job_id, row.samples = job["job_id"], len(samples)
        view = await self.jobs.wait_finished(job["job_id"], cfg.cycle_timeout_seconds)
        durations["train"] = time.time() - t1
        if view["status"] != "COMPLETED":
            self._finish(cycle_id, CycleStatus.FAILED, CycleReason.TRAINING_FAILED,
                         reason=f"training job {view['status']}: {view.get('error')}", durations=durations)
            raise CycleFailed(view.get("error") or view["status"])
        candidate = self.registry.get_version(view["adapter_version_id"])
        used = {"source": "self-tuning sweep" if sweep else "alias recipe" if recipe else "configuration",
                **{k: (candidate.config or {}).get(k) for k in ("learning_rate", "epochs")}}
        if sweep:
            used.update(sweep_job_id=job["job_id"], trials=((candidate.config or {}).get("sweep") or {}).get("trials"))
        with self.db.session() as s:
            s.get(LearningCycle, cycle_id).recipe = used

        t2 = time.time()
        sets = EvalSets(validation=val, regression=regression_records(cfg.regression_path)[:cfg.max_eval_records])
        ev = await self.evaluate(EvalRequest(active_uri=active.uri, candidate_uri=candidate.uri, sets=sets))
        durations["evaluate"] = time.time() - t2
        gate = decide(ev, GateLimits.of(cfg))
        decision, reason = (CycleStatus.PROMOTED if gate.promoted else CycleStatus.REJECTED), gate.reason
        before = ev.before.model_dump() | {"validation_records": ev.validation_records, "held_out_records": held_out,
                                           "regression_records": ev.regression_records}
        after = ev.after.model_dump() | {"kl": ev.kl, "failed_criteria": [
            {"code": f.code.value, "message": f.message} for f in gate.failures]}

        t3 = time.time()
        if decision == CycleStatus.PROMOTED and cfg.canary_fraction > 0:  # live ratings decide (learning/canary.py)
            reason = (f"{reason}; canary: serves {cfg.canary_fraction:.0%} of {alias}'s callers until "
                      f"{cfg.canary_min_ratings} rated answers decide (or {cfg.canary_max_seconds:.0f} s pass)")
            durations["promote"] = time.time() - t3
            durations["total"] = time.time() - t0
            # The cycle is CANARY before the alias has the canary, with no await between: the watcher (same event
            # loop) never sees an alias canary without its cycle.
            view = self._finish(cycle_id, CycleStatus.CANARY, CycleReason.GATE_PASSED,
                                candidate_version_id=candidate.id, metrics_before=before, metrics_after=after,
                                reason=reason, durations=durations)
            started = self.registry.start_canary(candidate.id, cfg.canary_fraction,
                                                 reason=f"learning cycle {cycle_id}: canary")
            await announce_alias(self.settings, started)  # every replica routes the share
            log.info("cycle %s canary: %s", cycle_id, reason)
            return view
        if decision == CycleStatus.PROMOTED and sweep:  # the winner promoted: the alias's cycles keep its recipe
            self.recipes.save_part(alias, RecipeValues.model_validate(candidate.config["sweep"]["config"]),
                                   continuous=True, source=f"learning cycle {cycle_id} (self-tuning)")
        if decision == CycleStatus.PROMOTED:
            promoted = self.registry.activate(candidate.id, reason=f"learning cycle {cycle_id}: {reason}")
            await announce_alias(self.settings, promoted)  # pushed to every replica; returns once they serve it
        else:
            self.registry.set_status(candidate.id, VersionStatus.REJECTED, f"learning cycle {cycle_id}: {reason}")
        durations["promote"] = time.time() - t3
        durations["total"] = time.time() - t0
        log.info("cycle %s %s: %s", cycle_id, decision.value, reason)
        code = CycleReason.GATE_PASSED if gate.promoted else CycleReason.GATE_FAILED
        return self._finish(cycle_id, decision, code, candidate_version_id=candidate.id, metrics_before=before,
                            metrics_after=after, reason=reason, durations=durations)

    def fail(self, cycle_id: str, code: CycleReason, reason: str) -> dict:
        """Fail an unfinished cycle (an error, a restart); a cycle that already reached a decision keeps it."""
        with self.db.session() as s:
            row = s.get(LearningCycle, cycle_id)
            if CycleStatus(row.status).finished:
                return cycle_view(row)
        return self._finish(cycle_id, CycleStatus.FAILED, code, reason=reason)


def cycle_view(row: LearningCycle) -> dict:
    return {"cycle_id": row.id, "alias": row.alias, "trigger": row.trigger, "status": row.status,
            "job_id": row.job_id, "samples": row.samples, "candidate_version_id": row.candidate_version_id,
            "active_version_id": row.active_version_id, "metrics_before": row.metrics_before,
            "metrics_after": row.metrics_after, "reason": row.reason, "reason_code": row.reason_code,
            "failed_criteria": (row.metrics_after or {}).get("failed_criteria", []),  # the gate's (code, message)
            "canary": (row.metrics_after or {}).get("canary"),  # a decided canary's figures (learning/canary.py)
            "durations": {k: v for k, v in (row.durations or {}).items() if k != "training_data"},
            "training_data": (row.durations or {}).get("training_data"),  # stored in the durations JSON column
            "recipe": row.recipe,  # what it trained with (learning rate, epochs) and where that came from
            "started_at": row.started_at.isoformat() if row.started_at else None,
            "finished_at": row.finished_at.isoformat() if row.finished_at else None}
