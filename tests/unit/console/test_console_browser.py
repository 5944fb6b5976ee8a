"""The console in headless Chromium against the real API app (fake backends): token login, role-aware controls
that the API still enforces, session expiry, and the OIDC authorization-code + PKCE login against a local provider.

The full flows on real Ray (search -> dataset -> training -> promote/roll back) are in tests/ray/test_console_ray.py.
"""

from __future__ import annotations

import asyncio

import pytest
from playwright.sync_api import expect

from fake_idp import FakeIdp
from sec_helpers import AUDIENCE, SigningKey, hs_token

from tests.browser import AppServer, PageWatch, chromium, screenshot

pytestmark = pytest.mark.timeout(180)

QA = "clara_ray/resources/corpus/qa.jsonl"  # a training file under the default training.data_roots
NOW = "2026-11-22T10:00:00+00:00"
JOB = {"job_id": "j1", "name": "demo", "trainer_type": "LORA", "status": "RUNNING", "priority": 3, "attempt": 1,
       "retry_of": None, "error": None, "step": 5, "total_steps": 10, "progress": 0.5, "eta_seconds": 12.0,
       "metrics": {"loss": 2.1, "learning_rate": 0.002}, "adapter_version_id": None, "request": {"name": "demo"},
       "created_by": "tr", "created_at": NOW, "queued_at": NOW, "started_at": NOW, "finished_at": None}
VERSIONS = [{"id": f"v{n}", "ref": f"demo@v{n}", "name": "demo", "version": n, "status": s, "status_reason": None,
             "domain": "baurecht", "description": None, "trainer_type": "LORA", "rank": 16, "base_model": "tiny",
             "metrics": {"ppl_before": 20.0, "ppl_after": p}, "job_id": "j0", "parent_id": None, "created_at": NOW}
            for n, s, p in [(1, "active", 15.0), (2, "candidate", 14.0)]]


class FakeJobs:
    def __init__(self):
        self.calls: list[tuple] = []

    async def cancel(self, job_id):
        self.calls.append(("cancel", job_id))
        return {**JOB, "status": "CANCELLED"}

    async def create(self, request, created_by=None):
        request = request.model_dump(mode="json")  # a TrainingJobRequest, stored as JSON by the real manager
        self.calls.append(("create", request, created_by))
        return {**JOB, "job_id": "j2", "name": request["name"], "status": "QUEUED", "request": request}

    async def list(self, **filters):
        return {"items": [JOB], "total": 1, "offset": 0, "limit": 50}

    async def metrics(self, job_id):
        return {"job_id": job_id, "points": [{"kind": "step", "step": s, "time": float(s), "loss": 3 - s / 5,
                                              "learning_rate": 0.002} for s in range(1, 6)]}

    async def last_seq(self):
        return 0

    async def wait_events(self, after, timeout=15.0):
        await asyncio.sleep(min(timeout, 1.0))
        return []


class FakeServing:
    def activate(self, ref):
        return {"alias": "demo", "version": ref}

    def list_adapters(self):
        return {"base_model": "tiny", "aliases": {"demo": "demo@v1"}, "versions": VERSIONS}


class FakeDatasets:
    def corpus_stats(self):
        return {"documents": 0, "chunks": 0, "by_domain": {}, "by_document_type": {}, "vectors": 0, "graph": {}}

    def list_datasets(self, **kw):
        return {"items": [], "total": 0, "offset": 0, "limit": 50}


class FakeLearning(FakeJobs):
    async def stats(self):
        return {"pending": {}, "pending_total": 0, "buffer_size": 10000, "quality_threshold": 0.5, "min_batch_size": 20,
                "train_interval_seconds": 3600, "persisted_total": 0, "claimed_by_cycles": 0, "since_start": {},
                "running_cycles": [], "coalesced": {}}

    async def cycles(self, alias=None, limit=50):
        return []


def fakes() -> dict:
    return {"jobs": FakeJobs(), "serving": FakeServing(), "datasets": FakeDatasets(), "learning": FakeLearning()}


@pytest.fixture
def served(build):
    servers = []

    def serve(app) -> str:
        servers.append(AppServer(app))
        return servers[-1].url

    yield serve
    for s in servers:
        s.close()


def log_in_with_token(page, url: str, token: str, expect_success: bool = True) -> None:
    page.goto(f"{url}/console/")
    page.get_by_test_id("token-input").fill(token)
    page.get_by_role("button", name="Log in").click()
    if expect_success:
        page.get_by_test_id("who").wait_for()


# role -> (views in the menu, start-job form, cancel, activate/rollback, try-it)
ROLES = {
    "analyst": (["Datasets", "Training", "Adapters", "Learning loop"], False, False, False, False),
    "trainer": (["Datasets", "Training", "Adapters", "Learning loop"], True, True, True, False),
    "user": (["Adapters", "Playground"], False, False, False, True),
}


def test_token_login_shows_only_what_the_role_may_use(build, served, dev_security):
    backends = fakes()
    url = served(build(backends=backends, **dev_security))
    with chromium() as browser:
        for role, (views, start, cancel, manage, try_it) in ROLES.items():
            page = browser.new_page()
            watch = PageWatch(page, url)
            token = hs_token(f"{role}-1", [role])
            log_in_with_token(page, url, token)
            assert page.get_by_test_id("who").inner_text().startswith(f"{role}-1 · {role}")
            assert page.locator("header nav a").all_inner_texts() == views
            if "Training" in views:
                page.goto(f"{url}/console/#/training")
                page.locator("tr[data-job=j1]").click()
                page.get_by_test_id("job-detail").wait_for()
                expect(page.get_by_test_id("chart-loss")).to_have_attribute("data-points", "5")
                assert page.get_by_test_id("start-job").count() == int(start)
                assert page.get_by_role("button", name="Cancel job").count() == int(cancel)
                screenshot(page, f"roles-{role}-training")
                if start:
                    form = page.get_by_test_id("start-job")
                    form.get_by_role("button", name="Start training").click()  # no name: the browser refuses it
                    assert backends["jobs"].calls == []
                    form.locator("input[name=name]").fill("BadName")
                    form.locator("input[type=radio]").nth(1).check()
                    form.locator("input[name=data_path]").fill(QA)  # under training.data_roots ({resources})
                    form.get_by_role("button", name="Start training").click()
                    assert "name: must be lowercase; use 2-48 characters" in form.get_by_role("alert").inner_text()
                    watch.errors.clear()  # the browser logs the 422 it was meant to get
                    form.locator("input[name=name]").fill("bau2")
                    form.locator("input[name=epochs]").fill("2")
                    form.locator("select[name=trainer_type]").select_option("QLORA")
                    form.get_by_role("button", name="Start training").click()
                    assert form.get_by_role("status").inner_text() == "Job j2 queued"
                    _, sent, who = backends["jobs"].calls[-1]
                    assert (sent["name"], sent["trainer_type"], sent["epochs"], sent["data_paths"], who) == \
                        ("bau2", "QLORA", 2, [QA], f"{role}-1")
                    assert sent["learning_rate"] is None  # left empty: the server's default applies
                    page.locator("tr[data-job=j1]").click()
                if cancel:
                    page.get_by_role("button", name="Cancel job").click()
                    page.get_by_test_id("job-detail").get_by_role("status").wait_for()
                    assert ("cancel", "j1") in backends["jobs"].calls
            page.goto(f"{url}/console/#/adapters")
            page.get_by_test_id("alias-demo").wait_for()
            assert page.get_by_test_id("activate-demo@v2").count() == int(manage)
            assert page.get_by_test_id("rollback-demo").count() == int(manage)
            assert page.get_by_test_id("try-it").count() == int(try_it)
            screenshot(page, f"roles-{role}-adapters")
            assert not watch.errors and not watch.foreign, (watch.errors, watch.foreign)
            # Hidden is not the protection: the API refuses the call the page does not offer.
            status = page.evaluate("""async (token) => (await fetch('/api/serving/activate_adapter', {method: 'POST',
                headers: {'Authorization': `Bearer ${token}`, 'Content-Type': 'application/json'},
                body: JSON.stringify({adapter: 'demo@v2'})})).status""", token)
            assert status == (200 if manage else 403)
            page.close()


def test_an_expired_session_returns_to_the_login_page(build, served, dev_security):
    url = served(build(backends=fakes(), **dev_security))
    with chromium() as browser:
        page = browser.new_page()
        log_in_with_token(page, url, hs_token("tina", ["trainer"], exp_in=-120), expect_success=False)
        alert = page.get_by_role("alert")
        alert.wait_for()
        assert "expired" in alert.inner_text()
        assert page.get_by_test_id("who").count() == 0
        # A valid token in the same tab gets in; then the server's answer 401 (token revoked, expired meanwhile)
        # sends the user back to the login page instead of leaving a broken view.
        log_in_with_token(page, url, hs_token("tina", ["trainer"]))
        page.evaluate("sessionStorage.setItem('clara.token', 'garbage')")
        page.goto(f"{url}/console/#/adapters")
        page.get_by_test_id("token-input").wait_for()
        screenshot(page, "session-expired")


@pytest.fixture
def idp():
    key = SigningKey("idp-key")
    provider = FakeIdp(key, client_id="clara-console", user="olga", roles=["trainer"])
    server = AppServer(provider.app)
    provider.issuer = f"{server.url}/realms/clara"
    yield provider
    server.close()


def test_oidc_login_code_flow_with_pkce(build, served, idp):
    url = served(build(backends=fakes(), mode="production", issuer=idp.issuer, audience=AUDIENCE,
                       console={"oidc_client_id": "clara-console"}))
    idp_origin = idp.issuer.split("/realms")[0]
    with chromium() as browser:
        page = browser.new_page()
        watch = PageWatch(page, url, allowed_origins=(idp_origin,))
        page.goto(f"{url}/console/#/training")
        assert page.get_by_test_id("token-input").count() == 0  # no token pasting in production
        page.get_by_test_id("oidc-login").click()
        page.get_by_test_id("who").wait_for()
        assert page.get_by_test_id("who").inner_text().startswith("olga · trainer")
        assert page.url == f"{url}/console/#/training"  # back where the user started, no ?code= left behind
        assert idp.exchanges == [{"scope": "openid profile", "redirect_uri": f"{url}/console/"}]
        assert page.get_by_test_id("start-job").count() == 1
        screenshot(page, "oidc-logged-in")
        assert not watch.errors, watch.errors
        assert all(u.startswith(idp_origin) for u in watch.foreign)
