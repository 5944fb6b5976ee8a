"""Feedback by completion id through the FastAPI app: resolution from the log, caller checks, routes, rating figures."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent / "security"))
from sec_helpers import SECRET, auth, hs_token  # noqa: E402

from clara_ray.adapters.registry import AdapterRegistry  # noqa: E402
from clara_ray.api.app import build_app  # noqa: E402
from clara_ray.serving.settings import CompletionLogSettings  # noqa: E402
from clara_ray.db.engine import Database  # noqa: E402
from clara_ray.db.tables import Feedback  # noqa: E402
from clara_ray.learning.loop import LearningLoop  # noqa: E402
from clara_ray.learning.control import InProcessLearning  # noqa: E402
from clara_ray.learning.ratings import ratings_for_versions  # noqa: E402
from clara_ray.security.settings import SecurityConfig  # noqa: E402
from clara_ray.serving.completion_log import CompletionLog, CompletionRecord  # noqa: E402

ANSWER = "Nach § 35 BauGB ist ein Vorhaben im Außenbereich nur ausnahmsweise zulässig, wenn öffentliche Belange " \
         "nicht entgegenstehen."
BETTER = ANSWER + " Privilegierte Vorhaben nach § 35 Abs. 1 BauGB sind eher zulässig."


class World:
    def __init__(self, settings, tmp_path):
        self.db = Database(f"sqlite:///{tmp_path / 'fb.db'}")
        self.registry = AdapterRegistry(self.db)
        self.v1 = self.registry.register(name="bau", uri="/a/1", base_model="tiny", trainer_type="LORA", rank=8)
        self.v2 = self.registry.register(name="bau", uri="/a/2", base_model="tiny", trainer_type="CONTINUOUS", rank=8)
        self.registry.activate(self.v2.id)
        self.settings = settings
        self.log = CompletionLog(self.db, CompletionLogSettings(flush_interval_seconds=3600))
        self.learning = InProcessLearning(LearningLoop(settings, self.db, jobs=None, evaluate=None))
        self.clients: list[TestClient] = []

    def client(self, **security) -> TestClient:
        s = self.settings.model_copy(update={"security": SecurityConfig(**(security or {"mode": "off"}))})
        c = TestClient(build_app(s, learning=self.learning, completions=self.log), raise_server_exceptions=False)
        self.clients.append(c)
        return c

    def serve(self, n: int, *, version=None, caller: str = "anonymous", route: str = "chat") -> CompletionRecord:
        """Log what the serving service would log for one generation."""
        v = self.v2 if version is None else version
        question = f"Frage {n}: Ist mein Vorhaben im Außenbereich Nummer {n} zulässig?"
        r = CompletionRecord(
            id=f"chatcmpl-{n}", route=route, model="bau" if v else "", version_id=v.id if v else None,
            version_ref=f"bau@v{v.version}" if v else None, prompt=f"### User: {question}\n### Assistant:",
            messages=[{"role": "system", "content": "Sei genau."}, {"role": "user", "content": question}],
            output=ANSWER, finish_reason="stop", prompt_tokens=20, completion_tokens=30, latency_ms=40.0,
            caller=caller, created_at=datetime.now(timezone.utc))
        self.log.record(r)
        return r

    def feedback_rows(self) -> list[Feedback]:
        with self.db.session() as s:
            return list(s.scalars(select(Feedback).order_by(Feedback.created_at)))

    def close(self):
        for c in self.clients:
            rt = getattr(c.app.state, "security_runtime", None)
            if rt is not None and rt.audit is not None:
                rt.audit.dispose()
            c.close()
        self.log.close()
        self.db.dispose()


@pytest.fixture
def world(settings, tmp_path):
    w = World(settings, tmp_path)
    yield w
    w.close()


def test_feedback_by_id_names_the_version(world):
    client = world.client()
    served = world.serve(1)  # still queued in the log: get() sees it
    r = client.post("/api/feedback", json={"completion_id": served.id, "rating": 0.9, "source": "ui"})
    assert r.status_code == 201 and r.json()["accepted"], r.text
    [row] = world.feedback_rows()
    assert (row.completion_id, row.version_id, row.alias) == (served.id, world.v2.id, "bau")
    assert row.prompt == served.messages[-1]["content"]  # the user's question, not the templated prompt
    assert row.response == ANSWER and row.rating == 0.9 and row.source == "ui"

    world.log.flush()
    one = client.get(f"/api/completions/{served.id}").json()
    assert one["version_ref"] == "bau@v2" and one["adapter"] == "bau"
    assert [(f["id"], f["rating"]) for f in one["feedback"]] == [(row.id, 0.9)]
    page = client.get("/api/completions", params={"adapter": "bau", "limit": 10}).json()
    assert page["total"] == 1 and page["offset"] == 0 and page["limit"] == 10
    assert page["items"][0]["id"] == served.id and len(page["items"][0]["feedback"]) == 1


def test_reference_errors(world):
    client = world.client()
    unknown = client.post("/api/feedback", json={"completion_id": "chatcmpl-nope", "rating": 1.0})
    assert unknown.status_code == 404 and unknown.json()["detail"].startswith("completion_id")
    assert client.get("/api/completions/chatcmpl-nope").status_code == 404

    base = world.serve(2, version=False)
    r = client.post("/api/feedback", json={"completion_id": base.id, "rating": 1.0})
    assert r.status_code == 422 and r.json()["detail"].startswith("completion_id") and "base model" in r.text

    served = world.serve(3)
    r = client.post("/api/feedback", json={"completion_id": served.id, "rating": 1.0, "response": "etwas anderes"})
    assert r.status_code == 422 and r.json()["detail"].startswith("response")
    r = client.post("/api/feedback", json={"completion_id": served.id, "rating": 1.0, "adapter": "steuer"})
    assert r.status_code == 422 and r.json()["detail"].startswith("adapter")
    # the logged values themselves may be repeated
    r = client.post("/api/feedback", json={"completion_id": served.id, "rating": 1.0, "adapter": "bau",
                                           "response": ANSWER, "prompt": served.messages[-1]["content"]})
    assert r.status_code == 201 and r.json()["accepted"], r.text

    inline_missing = client.post("/api/feedback", json={"rating": 1.0, "prompt": "Frage?"})
    assert inline_missing.status_code == 422 and "response, adapter" in inline_missing.text
    assert world.feedback_rows()[0].completion_id == served.id and len(world.feedback_rows()) == 1


def test_inline_feedback_still_works_and_batch_mixes(world):
    client = world.client()
    ok = world.serve(4)
    inline = {"prompt": "Frage 99: Darf ich im Außenbereich ein Gartenhaus bauen?", "response": ANSWER,
              "adapter": "bau", "rating": 1.0}
    r = client.post("/api/feedback/batch", json={"items": [
        inline, {"completion_id": ok.id, "rating": 0.4, "correction": BETTER},
        {"completion_id": "chatcmpl-missing", "rating": 1.0}]})
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["accepted"], body["rejected"]) == (2, 1)
    assert [x["accepted"] for x in body["results"]] == [True, True, False]
    assert body["results"][2]["reason"].startswith("completion_id")
    rows = {row.completion_id: row for row in world.feedback_rows()}
    assert rows[None].version_id is None and rows[None].alias == "bau"
    assert rows[ok.id].version_id == world.v2.id and rows[ok.id].correction == BETTER


def test_foreign_callers_completion_is_not_found(world):
    client = world.client(mode="dev", jwt_secret=SECRET)
    alices = world.serve(5, caller="alice")
    other = world.serve(6, caller="alice")
    bob = client.post("/api/feedback", json={"completion_id": alices.id, "rating": 1.0},
                      headers=auth(hs_token("bob", ["user"])))
    assert bob.status_code == 404 and bob.json()["detail"] == f"completion_id: no completion {alices.id!r}"
    alice = client.post("/api/feedback", json={"completion_id": alices.id, "rating": 1.0},
                        headers=auth(hs_token("alice", ["user"])))
    assert alice.status_code == 201 and alice.json()["accepted"], alice.text
    admin = client.post("/api/feedback", json={"completion_id": other.id, "rating": 1.0},  # completions:read
                        headers=auth(hs_token("root", ["admin"])))
    assert admin.status_code == 201 and admin.json()["accepted"], admin.text
    # reading the log needs completions:read: auditors yes, users no
    world.log.flush()
    assert client.get("/api/completions", headers=auth(hs_token("bob", ["user"]))).status_code == 403
    seen = client.get("/api/completions", params={"caller": "alice"}, headers=auth(hs_token("eve", ["auditor"])))
    assert seen.status_code == 200 and seen.json()["total"] == 2


def test_ratings_per_version(world):
    client = world.client()
    a, b = world.serve(7), world.serve(8)
    c = world.serve(9, version=world.v1)
    for body in ({"completion_id": a.id, "rating": 1.0}, {"completion_id": b.id, "rating": 0.6, "correction": BETTER},
                 {"completion_id": c.id, "rating": 0.9}):
        assert client.post("/api/feedback", json=body).json()["accepted"]
    r = client.get("/api/feedback/ratings", params={"adapter": "bau"})
    assert r.status_code == 200, r.text
    versions = r.json()["versions"]
    assert [(v["version_ref"], v["feedback"], v["mean_rating"], v["corrections"]) for v in versions] == [
        ("bau@v2", 2, 0.8, 1), ("bau@v1", 1, 0.9, 0)]
    assert versions[0]["status"] == "active"
    # what the learning loop's gate reads
    figures = ratings_for_versions(world.db, [world.v1.id, world.v2.id])
    assert figures[world.v2.id].mean_rating == 0.8 and figures[world.v1.id].feedback == 1
    assert client.get("/api/feedback/ratings", params={"adapter": "steuer"}).status_code == 404
    bad = client.get("/api/feedback/ratings", params={"adapter": "Bad Name"})
    assert bad.status_code == 422 and "adapter" in bad.text


def test_bad_list_parameters_are_4xx(world):
    client = world.client()
    for params in ({"limit": 501}, {"offset": -1}, {"offset": 10**10}, {"since": "yesterday"}):
        r = client.get("/api/completions", params=params)
        assert r.status_code == 422, (params, r.text)
        assert next(iter(params)) in r.text


def test_a_thumbs_down_counts_as_a_rating_once_without_becoming_training_data(world):
    client = world.client()
    down = world.serve(20)
    r = client.post("/api/feedback", json={"completion_id": down.id, "rating": 0.0})
    assert r.status_code == 201 and not r.json()["accepted"] and r.json()["rating_recorded"]
    assert "nothing to learn from" in r.json()["reason"]
    again = client.post("/api/feedback", json={"completion_id": down.id, "rating": 1.0})
    assert not again.json()["accepted"] and "already given" in again.json()["reason"]  # one answer, one rating
    up = world.serve(21)
    assert client.post("/api/feedback", json={"completion_id": up.id, "rating": 1.0}).json()["accepted"]
    figures = ratings_for_versions(world.db, [world.v2.id])[world.v2.id]
    assert (figures.feedback, figures.mean_rating) == (2, 0.5)
    stats = world.learning.loop.buffer.stats()
    # Only the thumbs-up is kept to learn from: queued for training, or held out for evaluation (a fixed share).
    assert stats["pending_total"] + stats["held_out_total"] == 1
