"""One learning cycle: claimed feedback -> CONTINUOUS job -> evaluate candidate vs active -> gate -> promote or reject."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Awaitable, Callable

from clara_ray.adapters.registry import AdapterRegistry
from clara_ray.config import ClaraSettings
from clara_ray.db.engine import Database
from clara_ray.db.tables import LearningCycle, utcnow
from clara_ray.learning.evaluate import NoEvaluationData, regression_records, validation_records
from clara_ray.learning.gate import decide
from clara_ray.training.spec import TrainerType, TrainingJobRequest

log = logging.getLogger("clara.learning")

# evaluate(adapter_uri_or_None, records) -> perplexity; runs as a Ray task in the actor, in-process in tests.
Evaluate = Callable[[str | None, list], Awaitable[float]]


class CycleFailed(Exception):
    pass


class CycleRunner:
    def __init__(self, settings: ClaraSettings, db: Database, jobs, evaluate: Evaluate):
        self.settings, self.db, self.jobs, self.evaluate = settings, db, jobs, evaluate
        self.registry = AdapterRegistry(db)

    def start_record(self, cycle_id: str, alias: str, trigger: str) -> None:
        active = self.registry.alias(alias)
        with self.db.session() as s:
            s.add(LearningCycle(id=cycle_id, alias=alias, trigger=trigger, status="running",
                                active_version_id=active.version_id if active else None))

    def _finish(self, cycle_id: str, **fields) -> dict:
        with self.db.session() as s:
            row = s.get(LearningCycle, cycle_id)
            for k, v in fields.items():
                setattr(row, k, v)
            row.finished_at = utcnow()
        return cycle_view(row)

    async def run(self, cycle_id: str, alias: str, samples: list) -> dict:
        """Train, evaluate and decide; returns the finished cycle. Raises CycleFailed when training fails."""
        cfg, t0 = self.settings.learning, time.time()
        durations: dict[str, float] = {}
        active = self.registry.resolve(alias)
        try:  # before any training: without a validation set the gate could not decide
            val = validation_records(self.registry, active.id, self.settings.training.val_fraction)
        except NoEvaluationData as e:
            self._finish(cycle_id, status="failed", reason=str(e), durations=durations)
            raise CycleFailed(str(e)) from None
        data = Path(self.settings.storage.data_dir) / "learning" / f"{cycle_id}.jsonl"
        data.parent.mkdir(parents=True, exist_ok=True)
        with data.open("w", encoding="utf-8") as f:
            for r in samples:
                f.write(json.dumps({"prompt": r.prompt, "response": r.correction or r.response}, ensure_ascii=False) + "\n")
        durations["prepare"] = time.time() - t0
        req = TrainingJobRequest(
            name=alias, trainer_type=TrainerType.CONTINUOUS, data_paths=[str(data)], parent=f"{alias}@v{active.version}",
            activate="never", priority=2, epochs=cfg.epochs,
            learning_rate=cfg.learning_rate or self.settings.continuous.learning_rate,
            description=f"learning cycle {cycle_id} ({len(samples)} feedback samples)")
        t1 = time.time()
        job = await self.jobs.create(req.model_dump(mode="json"), "learning-loop")
        with self.db.session() as s:
            row = s.get(LearningCycle, cycle_id)
            row.job_id, row.samples = job["job_id"], len(samples)
        view = await self.jobs.wait_finished(job["job_id"], cfg.cycle_timeout_seconds)
        durations["train"] = time.time() - t1
        if view["status"] != "COMPLETED":
            self._finish(cycle_id, status="failed", reason=f"training job {view['status']}: {view.get('error')}",
                         durations=durations)
            raise CycleFailed(view.get("error") or view["status"])
        candidate = self.registry.get_version(view["adapter_version_id"])

        t2 = time.time()
        reg = regression_records(cfg.regression_path)
        before = {"val_ppl": await self.evaluate(active.uri, val), "regression_ppl": await self.evaluate(active.uri, reg)}
        after = {"val_ppl": await self.evaluate(candidate.uri, val), "regression_ppl": await self.evaluate(candidate.uri, reg)}
        durations["evaluate"] = time.time() - t2
        decision, reason = decide(before, after, min_improvement=cfg.min_improvement, max_regression=cfg.max_regression)

        t3 = time.time()
        if decision == "promoted":
            self.registry.activate(candidate.id, reason=f"learning cycle {cycle_id}: {reason}")
        else:
            self.registry.set_status(candidate.id, "rejected", f"learning cycle {cycle_id}: {reason}")
        durations["promote"] = time.time() - t3
        durations["total"] = time.time() - t0
        log.info("cycle %s %s: %s", cycle_id, decision, reason)
        return self._finish(cycle_id, status=decision, candidate_version_id=candidate.id, metrics_before=before,
                            metrics_after=after, reason=reason, durations=durations)

    def fail(self, cycle_id: str, reason: str) -> dict:
        return self._finish(cycle_id, status="failed", reason=reason)


def cycle_view(row: LearningCycle) -> dict:
    return {"cycle_id": row.id, "alias": row.alias, "trigger": row.trigger, "status": row.status,
            "job_id": row.job_id, "samples": row.samples, "candidate_version_id": row.candidate_version_id,
            "active_version_id": row.active_version_id, "metrics_before": row.metrics_before,
            "metrics_after": row.metrics_after, "reason": row.reason, "durations": row.durations,
            "started_at": row.started_at.isoformat() if row.started_at else None,
            "finished_at": row.finished_at.isoformat() if row.finished_at else None}
