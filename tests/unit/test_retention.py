"""Retention on a populated store: old data goes, the active and rollback versions and untrained feedback stay."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from clara_ray.adapters.registry import AdapterRegistry
from clara_ray.db.tables import Completion, Feedback, Job, JobMetric, LearningCycle, new_id
from clara_ray.learning.buffer import DROPPED, RATING_ONLY
from clara_ray.retention import protected_versions, run_retention
from clara_ray.training.manager import JobManager

NOW = datetime(2030, 6, 1, tzinfo=timezone.utc)
OLD = NOW - timedelta(days=400)  # older than every configured age
RECENT = NOW - timedelta(days=1)


def adapter_folder(root: Path, name: str) -> str:
    folder = root / "adapters" / name
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text("{}")
    return str(folder)


class Store:
    """A populated deployment: versions (active, previous, rejected old and new), jobs with checkpoints, completions,
    feedback in every state."""

    def __init__(self, settings, db):
        self.settings, self.db, root = settings, db, settings.storage.data_dir
        reg = AdapterRegistry(db)
        v = {}
        for key, status in [("v1", "rejected"), ("v2", "active"), ("v3", "active"), ("v4", "rejected"),
                            ("v5", "rejected")]:
            row = reg.register(name="bau", uri=adapter_folder(root, key), base_model="tiny", trainer_type="LORA",
                               rank=8, created_at=RECENT if key == "v5" else OLD, job_id=f"job-{key}")
            v[key] = row
            if status == "active":
                reg.activate(row.id)  # v2 then v3: v3 serves, v2 is the rollback target (archived)
            else:
                reg.set_status(row.id, status, "gate said no")
        self.v = v
        self.checkpoints = Path(settings.storage.checkpoint_uri)
        with db.session() as s:
            for key in ("v1", "v2", "v3", "v4"):  # the jobs that made each version, all finished long ago
                s.add(Job(id=f"job-{key}", name="bau", trainer_type="LORA", status="COMPLETED", request={},
                          finished_at=OLD, adapter_version_id=v[key].id))
                (self.checkpoints / f"clara-bau-job-{key}").mkdir(parents=True)
                s.add(JobMetric(job_id=f"job-{key}", kind="step", step=1, time=0.0, values={}))
            s.add(Job(id="job-new", name="bau", trainer_type="LORA", status="FAILED", request={}, finished_at=RECENT))
            s.add(Job(id="job-run", name="bau", trainer_type="LORA", status="RUNNING", request={}, created_at=OLD))
            s.add(LearningCycle(id="done", alias="bau", trigger="size", status="promoted", started_at=OLD))
            s.add(LearningCycle(id="busy", alias="bau", trigger="size", status="running", started_at=OLD))
            for cycle in (None, "done", "busy", DROPPED, RATING_ONLY):
                for at in (OLD, RECENT):
                    s.add(Feedback(id=f"fb-{cycle}-{at.year}", alias="bau", prompt="p", response="r", rating=1.0,
                                   content_hash=new_id(), cycle_id=cycle, created_at=at))
            for at in (OLD, RECENT):
                s.add(Completion(id=f"cmpl-{at.year}", route="chat", model="bau", prompt="p", output="o",
                                 created_at=at))
        (self.checkpoints / "clara-bau-job-new").mkdir()

    def ids(self, table) -> set[str]:
        with self.db.session() as s:
            return set(s.scalars(select(table.id)))


@pytest.mark.timeout(60)
def test_retention_removes_what_aged_out_and_nothing_an_alias_needs(settings, db):
    world = Store(settings, db)
    v = world.v
    assert protected_versions(db) == {v["v3"].id, v["v2"].id}

    report = run_retention(settings, db, now=NOW)

    # jobs: old finished ones go with their metrics and checkpoints, except those that made v2/v3
    assert world.ids(Job) == {"job-v2", "job-v3", "job-new", "job-run"}
    assert (report.jobs, report.checkpoints) == (2, 2)
    assert sorted(p.name for p in world.checkpoints.iterdir()) == ["clara-bau-job-new", "clara-bau-job-v2",
                                                                    "clara-bau-job-v3"]
    with db.session() as s:
        assert set(s.scalars(select(JobMetric.job_id))) == {"job-v2", "job-v3"}
    # versions: old rejected ones lose their files and are marked purged; active, previous and young ones stay
    reg = AdapterRegistry(db)
    assert report.version_files == 2
    for key in ("v1", "v4"):
        assert reg.get_version(v[key].id).status == "purged" and not Path(v[key].uri).exists()
    for key, status in (("v2", "archived"), ("v3", "active"), ("v5", "rejected")):
        assert reg.get_version(v[key].id).status == status and Path(v[key].uri).is_dir()
    # completions: by serving.completion_log.retention_days
    assert world.ids(Completion) == {f"cmpl-{RECENT.year}"} and report.completions == 1
    # feedback: old and used (finished cycle, rating, dropped) goes; pending and a running cycle's stay
    kept = world.ids(Feedback)
    assert {f"fb-None-{OLD.year}", f"fb-busy-{OLD.year}"} <= kept
    assert not kept & {f"fb-done-{OLD.year}", f"fb-{DROPPED}-{OLD.year}", f"fb-{RATING_ONLY}-{OLD.year}"}
    assert all(f"fb-{c}-{RECENT.year}" in kept for c in (None, "done", "busy", DROPPED, RATING_ONLY))
    assert report.feedback == 3

    again = run_retention(settings, db, now=NOW)  # idempotent: nothing left to remove
    assert (again.jobs, again.version_files, again.completions, again.feedback) == (0, 0, 0, 0)


@pytest.mark.timeout(30)
async def test_job_manager_runs_retention_on_schedule(settings, db):
    """The scheduled task: started by the job manager actor, it runs a pass at once and keeps running."""
    cfg = settings.model_copy(update={"retention": settings.retention.model_copy(update={"interval_seconds": 0.05})})
    with db.session() as s:
        s.add(Job(id="job-old", name="bau", trainer_type="LORA", status="COMPLETED", request={},
                  finished_at=datetime.now(timezone.utc) - timedelta(days=400)))
    manager = JobManager(cfg, db, launcher=None)
    passes: list[int] = []
    real = manager.cleanup
    manager.cleanup = lambda: passes.append(real().jobs) or None
    manager.start_retention()
    deadline = asyncio.get_running_loop().time() + 10
    while len(passes) < 2:
        assert asyncio.get_running_loop().time() < deadline, "retention did not run twice"
        await asyncio.sleep(0.02)
    await manager.close()
    assert passes[0] == 1 and passes[1] == 0  # the first pass removed the old job, the next found nothing
