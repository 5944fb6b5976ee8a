"""Sweeps in the console, in headless Chromium against the real API app (fake jobs, real alias recipes on SQLite):
the job form's sweep section and the `sweep` body it posts, a sweep's trial table kept live by the WebSocket with
its best trial marked, saving the winner as the alias's recipe and removing it from the Adapters view."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from playwright.sync_api import expect

from sec_helpers import hs_token

from clara_ray.db.engine import Database
from clara_ray.training.alias_recipes import AliasRecipes, RecipeValues
from clara_ray.training.job_store import JobNotFound
from tests.browser import AppServer, PageWatch, chromium, screenshot
from tests.unit.console.test_console_browser import JOB, NOW, QA, FakeJobs, fakes, log_in_with_token

pytestmark = pytest.mark.timeout(180)


def trial(trial_id: str, status: str, config: dict, curve: list[float], error: str | None = None) -> dict:
    return {"trial_id": trial_id, "status": status, "config": config, "evaluations": len(curve),
            "val_perplexity": curve[-1] if curve else None, "curve": curve, "error": error}


LIVE = [trial("t1", "running", {"learning_rate": 1e-4, "r": 8}, [30.0, 25.0]),
        trial("t2", "stopped_early", {"learning_rate": 1e-2, "r": 8}, [40.0]),
        trial("t3", "pending", {"learning_rate": 3e-4, "r": 16}, [])]
FINAL = [trial("t1", "completed", {"learning_rate": 1e-4, "r": 8}, [30.0, 25.0, 21.0]),
         trial("t2", "stopped_early", {"learning_rate": 1e-2, "r": 8}, [40.0]),
         trial("t3", "completed", {"learning_rate": 3e-4, "r": 16}, [28.0, 20.0, 16.5]),
         trial("t4", "failed", {"learning_rate": 3e-3, "r": 16}, [], error="worker died")]
SPEC = {"space": {"learning_rate": [1e-4, 3e-4, 3e-3, 1e-2], "r": [8, 16]}, "search": "random", "trials": 4}
RUNNING = {**JOB, "job_id": "s1", "name": "demo", "request": {"name": "demo", "sweep": SPEC},
           "metrics": {"trials": LIVE}}
DONE = {**JOB, "job_id": "s2", "name": "demo", "status": "COMPLETED", "progress": 1.0, "finished_at": NOW,
        "request": {"name": "demo", "sweep": SPEC},
        "metrics": {"ppl_after": 16.5, "trials": FINAL,
                    "sweep": {"sweep_id": "s2", "best_trial": "t3", "config": {"learning_rate": 3e-4, "r": 16},
                              "trials": FINAL}}}


class SweepJobs(FakeJobs):
    """A running and a finished sweep, and an event log the test appends to while the page listens."""

    def __init__(self):
        super().__init__()
        self.jobs = {j["job_id"]: j for j in (RUNNING, DONE)}
        self.events: list[dict] = []
        self.changed = threading.Condition()  # the test thread publishes, the server's loop waits

    async def list(self, **filters):
        return {"items": list(self.jobs.values()), "total": len(self.jobs), "offset": 0, "limit": 50}

    async def get(self, job_id):
        if job_id not in self.jobs:
            raise JobNotFound(job_id)
        return self.jobs[job_id]

    async def last_seq(self):
        return 0  # a page that connects late still gets every event of this log

    async def wait_events(self, after, timeout=15.0):
        def wait() -> list[dict]:
            with self.changed:  # short waits: a closing server must not wait on a thread for long
                self.changed.wait_for(lambda: len(self.events) > after, timeout=min(timeout, 1.0))
                return self.events[after:]
        return await asyncio.to_thread(wait)

    def publish_trials(self, job_id: str, trials: list[dict], trial_id: str) -> None:
        """What the job manager does with a sweep's `trial` progress: store the table, send a metrics_update."""
        with self.changed:
            self.jobs[job_id] = {**self.jobs[job_id], "metrics": {**self.jobs[job_id]["metrics"], "trials": trials}}
            self.events.append({"seq": len(self.events) + 1, "type": "metrics_update", "time": time.time(),
                                "data": {"job_id": job_id, "kind": "trial", "trial_id": trial_id, "trials": trials}})
            self.changed.notify_all()


@pytest.fixture
def recipes(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'recipes.db'}")
    yield AliasRecipes(db)
    db.dispose()


@pytest.fixture
def server(build, dev_security, recipes):
    backends = {**fakes(), "jobs": SweepJobs(), "recipes": recipes}
    s = AppServer(build(backends=backends, **dev_security))
    yield s, backends["jobs"]
    s.close()


def test_sweep_form_posts_only_the_fields_filled(server):
    srv, jobs = server
    with chromium() as browser:
        page = browser.new_page()
        watch = PageWatch(page, srv.url)
        log_in_with_token(page, srv.url, hs_token("tr-1", ["trainer"]))
        page.goto(f"{srv.url}/console/#/training")
        form = page.get_by_test_id("start-job")
        form.locator("input[name=name]").fill("demo")
        form.locator("input[type=radio][name=source]").nth(1).check()
        form.locator("input[name=data_path]").fill(QA)
        form.get_by_test_id("sweep-section").locator("summary").click()
        expect(form.locator("input[name=sweep_learning_rates]")).to_be_disabled()  # until "run as a sweep"
        form.locator("input[name=sweep_enabled]").check()
        form.locator("input[name=sweep_learning_rates]").fill("1e-4, 3e-4")
        form.locator("input[name=sweep_r]").fill("8,16")
        form.locator("select[name=sweep_search]").select_option("grid")
        expect(form.locator("input[name=sweep_trials]")).to_be_disabled()  # a grid runs every combination
        form.locator("input[name=sweep_early_stopping]").uncheck()
        form.locator("input[name=sweep_save_recipe]").check()
        screenshot(page, "sweep-form")
        form.get_by_role("button", name="Start sweep").click()
        expect(form.get_by_role("status")).to_have_text("Job j2 queued")
        sent = jobs.calls[-1][1]["sweep"]
        assert {k: v for k, v in sent["space"].items() if v is not None} == {"learning_rate": [1e-4, 3e-4], "r": [8, 16]}
        assert (sent["search"], sent["early_stopping"], sent["save_recipe"]) == ("grid", False, True)
        assert (sent["trials"], sent["max_concurrent_trials"], sent["time_budget_seconds"]) == (4, None, None)  # defaults
        assert jobs.calls[-1][1]["learning_rate"] is None  # the job's own fields stay unset

        # A range in a grid: the server's 422 shows like any other field's.
        form.locator("input[name=sweep_lr_mode]").nth(1).check()
        form.locator("input[name=sweep_lr_min]").fill("0.001")
        form.locator("input[name=sweep_lr_max]").fill("0.1")
        form.get_by_role("button", name="Start sweep").click()
        expect(form.get_by_role("alert")).to_have_text("sweep: space: a grid search takes lists only, not ranges "
                                                       "(learning_rate)")
        watch.errors.clear()  # the browser logs the 422 it was meant to get
        calls = len(jobs.calls)
        form.locator("input[name=sweep_r]").fill("8, x")  # refused before sending, naming the input
        form.get_by_role("button", name="Start sweep").click()
        expect(form.get_by_role("alert")).to_have_text('sweep ranks: "x" is not a whole number')
        assert len(jobs.calls) == calls

        form.locator("input[name=sweep_r]").fill("")
        form.locator("select[name=sweep_search]").select_option("random")
        form.locator("input[name=sweep_trials]").fill("6")
        form.locator("input[name=sweep_max_concurrent_trials]").fill("2")
        form.locator("input[name=sweep_time_budget_seconds]").fill("600")
        form.get_by_role("button", name="Start sweep").click()
        expect(form.get_by_role("status")).to_have_text("Job j2 queued")
        sent = jobs.calls[-1][1]["sweep"]
        assert {k: v for k, v in sent["space"].items() if v is not None} == \
            {"learning_rate": {"min": 0.001, "max": 0.1, "log": True}}
        assert (sent["search"], sent["trials"], sent["max_concurrent_trials"], sent["time_budget_seconds"]) == \
            ("random", 6, 2, 600.0)

        form.locator("input[name=sweep_enabled]").uncheck()  # back to a plain job: no sweep section at all
        form.get_by_role("button", name="Start training").click()
        expect(form.get_by_role("status")).to_have_text("Job j2 queued")
        assert jobs.calls[-1][1]["sweep"] is None
        assert not watch.errors and not watch.foreign, (watch.errors, watch.foreign)


def rows(page):
    return page.get_by_test_id("trials").locator("tr[data-trial]")


def test_trial_table_live_best_trial_and_recipe(server, recipes):
    srv, jobs = server
    with chromium() as browser:
        page = browser.new_page()
        watch = PageWatch(page, srv.url)
        log_in_with_token(page, srv.url, hs_token("tr-1", ["trainer"]))
        page.goto(f"{srv.url}/console/#/training")
        expect(page.get_by_test_id("live")).to_have_text("live")
        page.locator("tr[data-job=s1]").click()
        expect(rows(page)).to_have_count(3)
        assert [r.get_attribute("data-status") for r in rows(page).all()] == ["running", "stopped_early", "pending"]
        t1 = page.locator("tr[data-trial=t1]")
        expect(t1.get_by_test_id("sparkline")).to_have_attribute("aria-label", "30 → 25")
        expect(t1.locator("td").nth(2)).to_have_text("learning_rate=0.0001, r=8")
        assert page.locator("tr[data-best]").count() == 0 and page.get_by_test_id("save-recipe").count() == 0

        # Live: the next trial starts and reports; the table follows the WebSocket's `trial` events.
        started = [*LIVE[:2], trial("t3", "running", {"learning_rate": 3e-4, "r": 16}, [29.0, 24.5])]
        jobs.publish_trials("s1", started, "t3")
        t3 = page.locator("tr[data-trial=t3]")
        expect(t3).to_have_attribute("data-status", "running")
        expect(t3.locator("td").nth(4)).to_have_text("24.5")
        expect(t3.get_by_test_id("sparkline")).to_have_count(1)
        expect(page.get_by_test_id("events")).to_contain_text("trial t3: running")
        screenshot(page, "sweep-running")

        page.locator("tr[data-job=s2]").click()
        expect(rows(page)).to_have_count(4)
        best = page.locator("tr[data-best=true]")
        expect(best).to_have_count(1)
        expect(best).to_have_attribute("data-trial", "t3")
        expect(page.get_by_test_id("best-trial")).to_have_text("Best: trial t3 (learning_rate=0.0003, r=16)")
        expect(page.locator("tr[data-trial=t4]")).to_contain_text("worker died")
        page.get_by_test_id("save-recipe").click()
        expect(page.get_by_test_id("job-detail").get_by_role("status")).to_have_text(
            "Recipe of demo saved (initial: learning_rate=0.0003, r=16)")
        stored = recipes.get("demo")
        assert stored.source == "sweep s2" and stored.updated_by == "tr-1"
        assert stored.recipe.initial.model_dump(exclude_none=True) == {"learning_rate": 3e-4, "r": 16}
        screenshot(page, "sweep-finished")

        page.goto(f"{srv.url}/console/#/adapters")
        page.get_by_test_id("recipe-toggle-demo").click()
        expect(page.locator("[data-testid=recipe-values-demo] [data-part=initial]")).to_have_text(
            "learning_rate=0.0003, r=16")
        expect(page.get_by_test_id("recipe-values-demo")).to_contain_text("sweep s2 · tr-1")
        screenshot(page, "alias-recipe")
        page.get_by_test_id("recipe-remove-demo").click()
        expect(page.get_by_test_id("recipe-none-demo")).to_be_visible()
        expect(page.get_by_test_id("recipe-demo").get_by_role("status")).to_have_text("Recipe of demo removed")
        assert recipes.get("demo") is None
        assert not watch.errors and not watch.foreign, (watch.errors, watch.foreign)


def test_analyst_sees_trials_and_recipes_but_cannot_change_them(server, recipes):
    srv, _ = server
    recipes.save_part("demo", RecipeValues(learning_rate=2e-3), continuous=False, source="api", updated_by="tr-1")
    with chromium() as browser:
        page = browser.new_page()
        watch = PageWatch(page, srv.url)
        log_in_with_token(page, srv.url, hs_token("an-1", ["analyst"]))
        page.goto(f"{srv.url}/console/#/training")
        page.locator("tr[data-job=s2]").click()
        expect(page.locator("tr[data-best=true]")).to_have_attribute("data-trial", "t3")
        assert page.get_by_test_id("save-recipe").count() == 0
        page.goto(f"{srv.url}/console/#/adapters")
        page.get_by_test_id("recipe-toggle-demo").click()
        expect(page.locator("[data-testid=recipe-values-demo] [data-part=initial]")).to_have_text("learning_rate=0.002")
        assert page.get_by_test_id("recipe-remove-demo").count() == 0
        # Hidden is not the protection: the API refuses the removal too.
        status = page.evaluate("""async (token) => (await fetch('/api/training/recipes/demo', {method: 'DELETE',
            headers: {'Authorization': `Bearer ${token}`}})).status""", hs_token("an-1", ["analyst"]))
        assert status == 403 and recipes.get("demo") is not None
        watch.errors.clear()  # the browser logs the 403 it was meant to get
        assert not watch.foreign, watch.foreign

