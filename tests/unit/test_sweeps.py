"""Sweeps and alias recipes without Ray: the spec's checks, Tune's search space, trial plans, cleanup of trial files,
recipe storage and precedence, the recipe routes, and the learning loop's self-tuning decision."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from clara_ray.adapters.registry import AdapterRegistry
from clara_ray.api.app import build_app
from clara_ray.learning import self_tune
from clara_ray.learning.loop import LearningLoop
from clara_ray.training.alias_recipes import AliasRecipes, RecipeValues
from clara_ray.training.spec import TrainingJobRequest, resolve_plan
from clara_ray.training.sweep_spec import SweepSpec
from clara_ray.training.tune_sweep import param_space, remove_sweep_files, sweep_name, trial_plan
from tests.unit.test_learning import ANSWER, fb, make_loop, wait_for

DATA = {"name": "bau", "data_paths": ["/data/x.jsonl"]}


@pytest.mark.parametrize("sweep, says", [
    ({"space": {}}, "varies nothing"),
    ({"space": {"learning_rate": {"min": 0, "max": 1e-2, "log": True}}}, "log range needs min > 0"),
    ({"space": {"learning_rate": {"min": 1e-3, "max": 1e-4}}}, "min must be below max"),
    ({"space": {"r": [0, 8]}}, "r: values must be >= 1"),
    ({"space": {"learning_rate": {"min": 1e-4, "max": 1e-2}}, "search": "grid"}, "lists only"),
    ({"space": {"learning_rate": [1e-3]}, "colour": "red"}, "colour"),
])
def test_a_bad_sweep_names_its_field(sweep, says):
    with pytest.raises(ValidationError, match=says):
        TrainingJobRequest(**DATA, sweep=sweep)


def test_a_continuous_sweep_cannot_change_the_parents_shape():
    with pytest.raises(ValidationError, match="r cannot vary in a CONTINUOUS job"):
        TrainingJobRequest(**DATA, trainer_type="CONTINUOUS", sweep={"space": {"r": [4, 8]}})
    TrainingJobRequest(**DATA, trainer_type="CONTINUOUS", sweep={"space": {"learning_rate": [1e-4, 1e-3]}})


def test_search_space_and_trial_plans(settings):
    from ray.tune.search.sample import Categorical, Float

    spec = SweepSpec(space={"learning_rate": {"min": 1e-4, "max": 1e-2, "log": True}, "r": [4, 8],
                            "target_modules": [["q_proj"], ["q_proj", "v_proj"]]}, trials=5)
    space = param_space(spec)
    assert isinstance(space["learning_rate"], Float) and space["learning_rate"].lower == 1e-4
    assert isinstance(space["r"], Categorical) and space["r"].categories == [4, 8]
    assert spec.trial_count == 5
    grid = SweepSpec(space={"learning_rate": [1e-3, 1e-2], "epochs": [1, 2, 3]}, search="grid")
    assert grid.trial_count == 6 and param_space(grid)["epochs"] == {"grid_search": [1, 2, 3]}

    plan = resolve_plan("job7", TrainingJobRequest(**DATA), settings, base_model_path="tiny")
    trial = trial_plan(plan, {"learning_rate": 0.004, "r": 16, "epochs": 2.0}, "ab12_00001")
    assert (trial.learning_rate, trial.r, trial.epochs, trial.job_id) == (0.004, 16, 2, "job7-ab12_00001")
    assert trial.max_failures == 0 and trial.checkpoint_every_steps > 10**8  # trials checkpoint only at the end
    assert (plan.learning_rate, plan.job_id) != (0.004, trial.job_id)  # the job's plan is untouched


def test_sweep_cleanup_removes_only_this_sweeps_folders(settings, tmp_path):
    store = tmp_path / "checkpoints"
    plan = resolve_plan("job7", TrainingJobRequest(**DATA), settings, base_model_path="tiny").model_copy(
        update={"checkpoint_uri": str(store)})
    mine = [sweep_name(plan), "clara-bau-job7-ab12_00000", "clara-bau-job7-ab12_00001"]
    others = ["clara-bau-job8", "clara-sweep-bau-job8", "clara-bau-job70"]
    for name in mine + others:
        (store / name / "checkpoint_1").mkdir(parents=True)
    remove_sweep_files(plan)
    assert sorted(p.name for p in store.iterdir()) == sorted(others)


def test_alias_recipes_keep_parts_and_take_precedence_over_config(settings, db):
    recipes = AliasRecipes(db)
    assert recipes.get("bau") is None and recipes.values_for("bau", continuous=False) is None
    recipes.save_part("bau", RecipeValues(learning_rate=3e-3, r=16, dropout=0.0), continuous=False, source="api")
    recipes.save_part("bau", RecipeValues(learning_rate=5e-4, epochs=2), continuous=True, source="sweep job9")
    stored = recipes.get("bau")
    assert stored.recipe.initial.r == 16 and stored.recipe.continuous.epochs == 2 and stored.source == "sweep job9"

    initial = recipes.values_for("bau", continuous=False)
    plan = resolve_plan("j", TrainingJobRequest(**DATA), settings, base_model_path="tiny", alias_recipe=initial)
    assert (plan.learning_rate, plan.r, plan.dropout) == (3e-3, 16, 0.0)  # recipe over config (dropout 0 counts)
    own = TrainingJobRequest(**DATA, learning_rate=1e-3, lora={"r": 4})
    plan = resolve_plan("j", own, settings, base_model_path="tiny", alias_recipe=initial)
    assert (plan.learning_rate, plan.r) == (1e-3, 4)  # the job's own fields win
    assert recipes.delete("bau") and not recipes.delete("bau")


class _Jobs:
    def __init__(self, jobs: dict):
        self.jobs = jobs

    async def get(self, job_id):
        from clara_ray.training.job_store import JobNotFound

        if job_id not in self.jobs:
            raise JobNotFound(job_id)
        return self.jobs[job_id]


def test_recipe_routes(settings, db):
    sweep_job = {"job_id": "sw1", "name": "bau", "status": "COMPLETED", "trainer_type": "LORA",
                 "metrics": {"sweep": {"config": {"learning_rate": 0.004, "r": 16}}}}
    plain_job = {"job_id": "j2", "name": "bau", "status": "COMPLETED", "trainer_type": "LORA", "metrics": {}}
    app = build_app(settings, recipes=AliasRecipes(db), jobs=_Jobs({"sw1": sweep_job, "j2": plain_job}))
    with TestClient(app) as c:
        assert c.get("/api/training/recipes/bau").status_code == 404
        r = c.put("/api/training/recipes/bau", json={"from_job": "sw1"})
        assert r.status_code == 200 and r.json()["recipe"]["initial"] == {
            "learning_rate": 0.004, "r": 16, "alpha": None, "dropout": None, "epochs": None, "max_steps": None,
            "target_modules": None} and r.json()["source"] == "sweep sw1"
        r = c.put("/api/training/recipes/bau", json={"continuous": {"learning_rate": 1e-3}})
        assert r.json()["recipe"]["initial"]["r"] == 16 and r.json()["recipe"]["continuous"]["learning_rate"] == 1e-3
        assert c.put("/api/training/recipes/bau", json={"from_job": "j2"}).status_code == 409
        assert c.put("/api/training/recipes/bau", json={"from_job": "nope"}).status_code == 404
        bad = c.put("/api/training/recipes/bau", json={"from_job": "sw1", "initial": {"r": 4}})
        assert bad.status_code == 422 and "either from_job" in bad.text
        assert c.put("/api/training/recipes/bau", json={"continuous": {"learning_rate": 7}}).status_code == 422
        assert c.get("/api/training/recipes/Bad%0AName").status_code == 422
        assert [r["alias"] for r in c.get("/api/training/recipes").json()["items"]] == ["bau"]
        assert c.delete("/api/training/recipes/bau").json() == {"alias": "bau", "deleted": True}
        assert c.delete("/api/training/recipes/bau").status_code == 404


def test_self_tuning_grid_searches_upward_by_decades(settings):
    s = settings.model_copy(update={"learning": settings.learning.model_copy(update={"self_tune_trials": 4})})
    spec = self_tune.self_tune_sweep(s, 3e-5)
    assert spec.search == "grid" and spec.space.learning_rate == pytest.approx([3e-5, 3e-4, 3e-3, 3e-2])
    assert self_tune.self_tune_sweep(s, 0.01).space.learning_rate == pytest.approx([0.01, 0.05])  # capped


class _SweepAwareJobs:
    """Registers each job's candidate; a sweep's candidate carries its winning configuration like a real one."""

    def __init__(self, registry: AdapterRegistry):
        self.registry, self.requests = registry, []

    async def create(self, request, created_by=None):
        self.requests.append(request)
        return {"job_id": f"job{len(self.requests)}"}

    async def wait_finished(self, job_id, timeout):
        req = self.requests[-1]
        config = {"learning_rate": req.learning_rate or 2e-3, "epochs": req.epochs or 3}
        if req.sweep:
            best = max(req.sweep.space.learning_rate)
            config |= {"learning_rate": best, "sweep": {"config": {"learning_rate": best}, "trials": 3}}
        v = self.registry.register(name="bau", uri=f"/cand/{job_id}", base_model="tiny-x", trainer_type="CONTINUOUS",
                                   rank=8, parent_id=self.registry.resolve("bau").id, config=config)
        return {"job_id": job_id, "status": "COMPLETED", "adapter_version_id": v.id}


@pytest.mark.timeout(60)
async def test_rejected_cycles_lead_to_a_self_tuning_sweep_whose_winner_becomes_the_recipe(settings, db):
    s = settings.model_copy(update={"learning": settings.learning.model_copy(update={
        "min_batch_size": 5, "train_interval_seconds": 3600, "check_interval_seconds": 0.05, "buffer_size": 50,
        "eval_holdout_fraction": 0.0, "min_relevance": None, "learning_rate": 3e-5,
        "self_tune_trials": 3, "self_tune_after_rejections": 2})})
    jobs = _SweepAwareJobs(AdapterRegistry(db))
    # Too small a step: the candidate equals the active version, unless it trained at 3e-3 (a sweep's top rate).
    loop: LearningLoop = make_loop(s, db, jobs, lambda uri, recs: 9.0 if uri == "/cand/job3" else 10.0)
    await loop.start()
    for n in range(3):
        await loop.add([fb(i, response=f"{ANSWER} ({n})") for i in range(10 * n, 10 * n + 5)])
        await wait_for(lambda: len(loop.cycles()) == n + 1 and loop.cycles()[0]["status"] != "running"
                       and not loop.running)
    first, second, third = reversed(loop.cycles())
    assert [c["status"] for c in (first, second)] == ["rejected", "rejected"]
    assert first["recipe"]["source"] == "configuration" and jobs.requests[0].sweep is None
    sweep = jobs.requests[2].sweep
    assert sweep is not None and sweep.space.learning_rate == pytest.approx([3e-5, 3e-4, 3e-3])
    assert third["status"] == "promoted" and third["recipe"]["source"] == "self-tuning sweep"
    assert third["recipe"]["learning_rate"] == pytest.approx(3e-3) and third["recipe"]["trials"] == 3
    assert AliasRecipes(db).values_for("bau", continuous=True).learning_rate == pytest.approx(3e-3)
    await loop.close()
