"""The console's canary in headless Chromium against the real API app, learning loop and registry (no Ray): the
Learning view and the Adapters view show the running canary, only a role that may activate can end it early."""

from __future__ import annotations

import asyncio

import pytest
from playwright.sync_api import expect

from sec_helpers import hs_token

from clara_ray.adapters.registry import AdapterRegistry
from clara_ray.learning.control import InProcessLearning
from clara_ray.serving.completion_log import CompletionLog
from clara_ray.serving.service import ServingService
from tests.browser import AppServer, PageWatch, chromium, screenshot
from tests.unit.console.test_console_browser import FakeDatasets, FakeJobs as ConsoleJobs
from tests.unit.test_canary import EchoBackend, better, canary_cycle, canary_settings
from tests.unit.test_learning import FakeJobs, make_loop

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def world(settings, db):
    """A canary cycle left open by a learning loop that then stopped; the console's loop resumes it from the DB."""
    s = canary_settings(settings)

    async def open_canary():
        loop = make_loop(s, db, FakeJobs(AdapterRegistry(db)), better)
        await loop.start()
        c = await canary_cycle(loop)
        await loop.close()
        return c

    cycle = asyncio.run(open_canary())
    log = CompletionLog(db, s.serving.completion_log)
    serving = ServingService(s, db, EchoBackend(), base_model_path="tiny-x", completions=log)
    learning = InProcessLearning(make_loop(s, db, FakeJobs(AdapterRegistry(db)), better))
    yield {"serving": serving, "learning": learning, "completions": log, "jobs": ConsoleJobs(),
           "datasets": FakeDatasets()}, cycle
    log.close()


def test_canary_shown_and_promoted_early_by_a_trainer(build, dev_security, world, db):
    backends, cycle = world
    server = AppServer(build(backends=backends, **dev_security))
    try:
        with chromium() as browser:
            for role, manage in (("analyst", False), ("trainer", True)):
                page = browser.new_page()
                watch = PageWatch(page, server.url)
                page.goto(f"{server.url}/console/")
                page.get_by_test_id("token-input").fill(hs_token(f"{role}-1", [role]))
                page.get_by_role("button", name="Log in").click()
                page.get_by_test_id("who").wait_for()

                page.goto(f"{server.url}/console/#/adapters")
                expect(page.get_by_test_id("canary-bau")).to_contain_text("bau@v2 answers 50 % of the callers")
                page.goto(f"{server.url}/console/#/learning")
                row = page.get_by_test_id("canaries").locator("tr[data-alias=bau]")
                expect(row.get_by_test_id("canary-version")).to_have_text("bau@v2")
                expect(row.get_by_test_id("canary-fraction")).to_have_text("50 %")
                expect(row.get_by_test_id("canary-ratings")).to_have_text("0 / 4")
                expect(row.get_by_test_id("canary-bar")).to_have_text("0.5 (neutral)")  # the active has no ratings
                expect(page.locator("tr[data-status=canary]")).to_have_count(1)
                assert row.get_by_test_id("canary-promote").count() == int(manage)
                screenshot(page, f"canary-{role}")
                if manage:
                    row.get_by_test_id("canary-promote").click()
                    expect(page.locator("tr[data-status=promoted]")).to_have_count(1)  # the cycle, decided
                    expect(page.get_by_test_id("canaries")).to_have_count(0)
                    assert AdapterRegistry(db).resolve("bau").id == cycle["candidate_version_id"]
                    screenshot(page, "canary-promoted")
                assert not watch.errors and not watch.foreign, (watch.errors, watch.foreign)
                page.close()
    finally:
        server.close()
