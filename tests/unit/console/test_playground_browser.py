"""The console's playground and completions view in headless Chromium against the real API app with real serving.

A tiny random Llama on the batched engine serves alias `bau` (-> bau@v2; bau@v1 stays registered), streamed through
/v1/chat/completions; feedback goes through POST /api/feedback by completion id into an in-process learning loop.
The backend only slows the stream down (a pause per chunk) so the browser can be watched mid-answer.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from playwright.sync_api import expect

from sec_helpers import hs_token

from tests.browser import AppServer, PageWatch, chromium, screenshot
from clara_ray.learning.control import InProcessLearning

pytestmark = pytest.mark.timeout(300)

CORRECTION = ("Ein Vorhaben im Außenbereich ist nach § 35 BauGB nur zulässig, wenn öffentliche Belange nicht "
              "entgegenstehen und die Erschließung gesichert ist.")


class SlowBackend:
    """The real LocalBackend, with a pause before each streamed chunk."""

    def __init__(self, inner, pause: float = 0.1):
        self.inner, self.pause = inner, pause

    def __getattr__(self, name):
        return getattr(self.inner, name)

    async def stream(self, req, model):
        async for chunk in self.inner.stream(req, model):
            await asyncio.sleep(self.pause)
            yield chunk


@pytest.fixture
def world(settings, dev_security, tmp_path):
    from clara_ray.adapters.store import AdapterStore
    from clara_ray.api.app import build_app
    from clara_ray.db.engine import Database
    from clara_ray.learning.loop import LearningLoop
    from clara_ray.security.settings import SecurityConfig
    from clara_ray.serving.completion_log import CompletionLog
    from clara_ray.serving.batched_engine import BatchedEngine
    from clara_ray.serving.local_backend import AdapterLoader, LocalBackend
    from clara_ray.serving.service import ServingService
    from clara_ray.serving.testing import build_random_lora, build_tiny_llama
    from clara_ray.training.pipeline import base_model_id

    s = settings.model_copy(update={
        "security": SecurityConfig(**dev_security),
        "serving": settings.serving.model_copy(update={"max_new_tokens": 32, "max_prompt_tokens": 256}),
        "router": settings.router.model_copy(update={"use_embeddings": False})})
    base = str(build_tiny_llama(tmp_path / "base"))
    db = Database(s.storage.database_url)
    engine = BatchedEngine(base, max_adapters=2, max_new_tokens=32, max_prompt_tokens=256)
    loader = AdapterLoader(engine, AdapterStore(s.storage.adapter_store_uri), tmp_path / "cache", base_model_id(base))
    completions = CompletionLog(db, s.serving.completion_log)
    svc = ServingService(s, db, SlowBackend(LocalBackend(engine, loader)), base_model_path=base,
                         completions=completions)
    for seed in (3, 7):  # seeds whose random adapters answer with visible characters (others emit only newlines)
        svc.load_adapter("bau", str(build_random_lora(base, tmp_path / f"lora{seed}", seed=seed)), domain="baurecht")
    svc.activate("bau@v2")
    learning = InProcessLearning(LearningLoop(s, db, jobs=None, evaluate=None))
    server = AppServer(build_app(s, serving=svc, learning=learning, completions=completions))
    yield server.url, svc, db
    server.close()
    completions.close()
    db.dispose()


def log_in(page, url: str, token: str, view: str) -> None:
    """Straight into `view` (the default Datasets view would call a backend this app does not have)."""
    page.goto(f"{url}/console/#/{view}")
    page.get_by_test_id("token-input").fill(token)
    page.get_by_role("button", name="Log in").click()
    page.get_by_test_id("who").wait_for()


def feedback_rows(db, completion_id: str) -> list:
    from sqlalchemy import select

    from clara_ray.db.tables import Feedback

    with db.session() as s:
        return list(s.scalars(select(Feedback).where(Feedback.completion_id == completion_id)))


def test_chat_streams_and_a_correction_is_stored_against_the_version_that_answered(world):
    url, svc, db = world
    v2 = svc.registry.resolve("bau@v2")
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        watch = PageWatch(page, url)
        log_in(page, url, hs_token("uma", ["user"]), "playground")
        chat = page.get_by_test_id("chat")
        chat.locator("select[name=model]").select_option("bau")
        chat.locator("input[name=max_tokens]").fill("24")
        chat.locator("textarea[name=message]").fill("Ist mein Vorhaben im Außenbereich zulässig?")
        chat.get_by_role("button", name="Send").click()

        answer = chat.get_by_test_id("answer")
        # Mid-stream: part of the answer is on screen followed by the cursor, and no feedback buttons yet.
        streaming = chat.locator("[data-testid=answer][data-state=streaming]")
        expect(streaming.locator(".output")).to_have_text(re.compile(r"\S.*▍$", re.S))
        assert streaming.get_by_test_id("feedback").count() == 0
        screenshot(page, "playground-streaming")
        expect(answer).to_have_attribute("data-state", "done", timeout=30_000)
        expect(answer.get_by_test_id("served-version")).to_have_text("bau@v2")  # the alias named its version
        completion_id = answer.get_attribute("data-completion")
        assert completion_id.startswith("chatcmpl-")

        answer.get_by_role("button", name="Correct this answer").click()
        answer.locator("textarea[name=correction]").fill(CORRECTION)
        answer.get_by_role("button", name="Send correction").click()
        expect(answer.get_by_test_id("feedback-result")).to_have_text("Correction accepted")
        expect(answer.get_by_role("button", name="Thumbs down")).to_be_disabled()  # one feedback per completion
        screenshot(page, "playground-corrected")

        rows = feedback_rows(db, completion_id)
        corrected = [r for r in rows if r.correction == CORRECTION]
        assert len(corrected) == 1 and corrected[0].version_id == v2.id and corrected[0].rating == 0.0
        assert (corrected[0].alias, corrected[0].prompt) == ("bau", "Ist mein Vorhaben im Außenbereich zulässig?")

        # A second turn carries the first one: the conversation is multi-turn.
        chat.locator("textarea[name=message]").fill("Und im Innenbereich?")
        chat.locator("textarea[name=message]").press("Enter")
        second = chat.get_by_test_id("answer").nth(1)
        expect(second).to_have_attribute("data-state", "done", timeout=30_000)
        assert chat.locator(".turn.user").count() == 2
        # A bare thumbs down: nothing to train on, but it counts as a rating of bau@v2; the reason is shown.
        second.get_by_role("button", name="Thumbs down").click()
        expect(second.get_by_test_id("feedback-result")).to_contain_text(
            "Feedback recorded as a rating, not trained on: ")
        assert not watch.errors and not watch.foreign, (watch.errors, watch.foreign)

        # Side by side: one prompt, two models, each column names the version that answered it.
        page.get_by_role("button", name="Side by side").click()
        pair = page.get_by_test_id("side-by-side")
        pair.locator("select[name=model-0]").select_option("bau@v1")
        pair.locator("select[name=model-1]").select_option("bau")
        pair.locator("input[name=max_tokens]").fill("24")
        pair.locator("textarea[name=prompt]").fill("Brauche ich eine Baugenehmigung?")
        pair.get_by_role("button", name="Send to both").click()
        for column, version in (("column-0", "bau@v1"), ("column-1", "bau@v2")):
            done = pair.get_by_test_id(column).get_by_test_id("answer")
            expect(done).to_have_attribute("data-state", "done", timeout=30_000)
            expect(done.get_by_test_id("served-version")).to_have_text(version)
        left = pair.get_by_test_id("column-0").get_by_test_id("answer")
        left.get_by_role("button", name="Thumbs up").click()
        expect(left.get_by_test_id("feedback-result")).to_contain_text("Feedback ")  # accepted, or why not
        screenshot(page, "playground-side-by-side")
        v1 = svc.registry.resolve("bau@v1")
        assert [(r.version_id, r.rating) for r in feedback_rows(db, left.get_attribute("data-completion"))] == \
            [(v1.id, 1.0)]
        assert not watch.errors and not watch.foreign, (watch.errors, watch.foreign)

        # The completions view (admin) lists the served completion with its version and its feedback.
        svc.completions.flush()  # the log writes in batches; the list shows what is written
        page.close()
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        watch = PageWatch(page, url)
        log_in(page, url, hs_token("ada", ["admin"]), "completions")
        row = page.locator(f"tr[data-completion={completion_id}]")
        expect(row).to_have_attribute("data-version", "bau@v2")
        expect(row.get_by_test_id("feedback-summary")).to_have_text("0 good · 1 bad · 1 corrected")
        row.click()
        detail = page.get_by_test_id("completion-detail")
        expect(detail).to_contain_text("Ist mein Vorhaben im Außenbereich zulässig?")
        expect(detail.get_by_test_id("feedback-entry").filter(has_text=CORRECTION)).to_have_count(1)
        form = page.get_by_test_id("completion-filters")
        form.locator("select[name=adapter]").select_option("bau")
        form.locator("select[name=version]").select_option("bau@v1")
        form.get_by_role("button", name="Show").click()
        expect(page.locator("tr[data-completion]")).to_have_count(1)
        ratings = page.get_by_test_id("ratings")  # per version: feedback, mean rating, corrections
        expect(ratings.locator("tr[data-version='bau@v2'] td")).to_have_text(["bau@v2", "active", "2", "0", "1"])
        expect(ratings.locator("tr[data-version='bau@v1'] td")).to_have_text(["bau@v1", "candidate", "1", "1", "0"])
        expect(page.locator("tr[data-completion]")).to_have_attribute("data-version", "bau@v1")
        screenshot(page, "completions")
        assert not watch.errors and not watch.foreign, (watch.errors, watch.foreign)
