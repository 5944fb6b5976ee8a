"""Storage on SQLite and PostgreSQL: migrations, job lifecycle, adapter registry and aliases."""

import pytest
from sqlalchemy import inspect

from clara_ray.adapters.registry import AdapterRegistry, RegistryConflict, UnknownAdapter, parse_ref
from clara_ray.db.engine import Database, migrate
from clara_ray.training.job_store import IllegalTransition, JobNotFound, JobStore
from clara_ray.training.spec import JobStatus, TrainingJobRequest


def req(name="baurecht", priority=3):
    return TrainingJobRequest(name=name, data_paths=["x.jsonl"], priority=priority)


def test_schema_created_and_migration_idempotent(db):
    tables = set(inspect(db.engine).get_table_names())
    assert {"training_jobs", "adapter_versions", "adapter_aliases", "datasets", "feedback",
            "learning_cycles", "audit_log", "alembic_version"} <= tables
    assert migrate(db.engine) is False  # already at head: a second run changes nothing


def test_job_lifecycle_and_illegal_transitions(db):
    store = JobStore(db)
    job = store.create(req(), created_by="alice")
    assert job.status == "PENDING"
    store.transition(job.id, JobStatus.QUEUED)
    store.transition(job.id, JobStatus.RUNNING)
    done = store.transition(job.id, JobStatus.COMPLETED, metrics={"ppl": 3.0})
    assert done.finished_at is not None and done.started_at is not None
    with pytest.raises(IllegalTransition, match="COMPLETED"):
        store.transition(job.id, JobStatus.CANCELLED)
    with pytest.raises(JobNotFound):
        store.get("nope")
    assert store.get(job.id).request["name"] == "baurecht"


def test_queue_order_priority_then_fifo(db):
    store = JobStore(db)
    ids = []
    for name, prio in [("aa", 3), ("bb", 1), ("cc", 3), ("dd", 1)]:
        j = store.create(req(name, prio))
        store.transition(j.id, JobStatus.QUEUED)
        ids.append(j.id)
    assert [j.name for j in store.queued_in_order()] == ["bb", "dd", "aa", "cc"]


def test_list_filters_and_pagination(db):
    store = JobStore(db)
    for i in range(5):
        j = store.create(req(f"n{i}x"))
        if i % 2:
            store.transition(j.id, JobStatus.QUEUED)
    page = store.list(status=["QUEUED"], limit=1)
    assert page.total == 2 and len(page.items) == 1
    assert store.list(offset=4, limit=10).total == 5 and len(store.list(offset=4, limit=10).items) == 1


def test_progress_merges_metrics(db):
    store = JobStore(db)
    j = store.create(req())
    store.update_progress(j.id, step=3, total_steps=10, metrics={"loss": 2.0})
    store.update_progress(j.id, step=4, metrics={"perplexity": 7.0})
    got = store.get(j.id)
    assert (got.step, got.total_steps, got.metrics) == (4, 10, {"loss": 2.0, "perplexity": 7.0})


def _version(reg, name="baurecht", **kw):
    return reg.register(name=name, uri=f"/store/{name}", base_model="tiny-x", trainer_type="LORA", rank=16,
                        metrics={"ppl_dev": 5.0}, **kw)


def test_registry_versions_aliases_rollback(db):
    reg = AdapterRegistry(db)
    v1, v2, v3 = _version(reg), _version(reg), _version(reg)
    assert [v1.version, v2.version, v3.version] == [1, 2, 3]
    with pytest.raises(UnknownAdapter, match="baurecht@v1"):
        reg.resolve("baurecht")  # no alias yet: the message lists what exists
    a = reg.activate(v1.id)
    assert (a.version, a.revision) == (1, 1)
    a = reg.activate(v2.id)
    assert (a.version, a.revision, a.previous_version_id) == (2, 2, v1.id)
    assert reg.resolve("baurecht").id == v2.id and reg.resolve("baurecht@v3").id == v3.id
    assert reg.get_version(v1.id).status == "archived"
    back = reg.rollback("baurecht")
    assert back.version == 1 and reg.resolve("baurecht").id == v1.id
    assert reg.rollback("baurecht", to_version=3).version == 3
    with pytest.raises(RegistryConflict):
        reg.set_status(v3.id, "rejected")  # active version cannot be rejected
    reg.set_status(v2.id, "rejected", "gate: worse")
    assert reg.get_version(v2.id).status_reason == "gate: worse"


def test_parse_ref_rejects_traversal():
    assert parse_ref("baurecht@v12") == ("baurecht", 12)
    for bad in ["../etc", "Bau", "a", "x@12", "x@v1/..", ""]:
        with pytest.raises(ValueError):
            parse_ref(bad)


def test_same_database_two_processes_view(db_url):
    a, b = Database(db_url), Database(db_url)  # second open migrates nothing and sees the same rows
    JobStore(a).create(req())
    assert JobStore(b).list().total == 1
    a.dispose(), b.dispose()
