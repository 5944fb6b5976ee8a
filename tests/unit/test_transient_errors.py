"""A Ray actor that is restarting or gone (or Serve without a replica) answers 503 + Retry-After, never a 500."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from ray.exceptions import ActorDiedError, ActorUnavailableError, GetTimeoutError, RayActorError, RayTaskError
from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError

from clara_ray.api.app import build_app
from clara_ray.api.errors import RETRY_AFTER_SECONDS
from clara_ray.training.job_store import JobNotFound

FAILURES = [
    ActorDiedError(),
    ActorUnavailableError("The actor is temporarily unavailable: IOError: pid=4242 node 10.0.0.7", b"\x01" * 16),
    RayActorError(error_msg="The actor died because its worker process (pid=4242) exited."),
    GetTimeoutError("Get timed out: some object(s) not ready."),
    BackPressureError(num_queued_requests=9, max_queued_requests=8),
    DeploymentUnavailableError("ClaraApi"),
]
CALLS = [("POST", "/api/feedback", {"prompt": "Frage?", "response": "Antwort.", "rating": 1.0, "adapter": "bau"}),
         ("GET", "/api/learning/buffer", None),
         ("GET", "/api/training/jobs", None),
         ("POST", "/api/training/jobs", {"name": "bau", "data_paths": ["clara_ray/resources/corpus/qa.jsonl"]}),
         ("GET", "/api/training/jobs/j1", None)]


class FailingBackend:
    """A backend (job manager, learning buffer) whose every call raises `error`, as an ActorBackend does."""

    def __init__(self, error: BaseException):
        self.error = error

    def __getattr__(self, name: str):
        async def call(*args, **kwargs):
            raise self.error

        return call


@pytest.fixture
def client_for(settings):
    clients: list[TestClient] = []

    def make(error: BaseException) -> TestClient:
        backend = FailingBackend(error)
        c = TestClient(build_app(settings, jobs=backend, learning=backend), raise_server_exceptions=False)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


@pytest.mark.parametrize("error", FAILURES, ids=lambda e: type(e).__name__)
def test_a_restarting_actor_answers_503_with_retry_after(client_for, error):
    client = client_for(error)
    for method, path, body in CALLS:
        r = client.request(method, path, json=body)
        assert r.status_code == 503, (method, path, r.status_code, r.text)
        assert r.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
        assert r.json()["error"] == "ServiceRestarting" and "retry" in r.json()["detail"]
        assert "pid" not in r.text and "10.0.0.7" not in r.text and "Traceback" not in r.text  # nothing internal


def test_an_error_raised_inside_the_actor_keeps_its_own_status(client_for):
    """Ray wraps an actor method's own exception in a RayTaskError that is also an instance of its cause."""
    wrapped = RayTaskError("get", "Traceback ...", JobNotFound("job j1 not found")).as_instanceof_cause()
    r = client_for(wrapped).get("/api/training/jobs/j1")
    assert r.status_code == 404 and "Retry-After" not in r.headers
    assert r.json()["error"] == "JobNotFound"


def test_openai_routes_answer_503_in_openai_shape(settings):
    class FailingServing:
        class catalog:  # noqa: N801 - what /v1/models reads
            @staticmethod
            def models():
                raise DeploymentUnavailableError("LoraLLM")

    with TestClient(build_app(settings, serving=FailingServing()),
                    raise_server_exceptions=False) as client:
        r = client.get("/v1/models")
    assert r.status_code == 503 and r.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert r.json()["error"]["type"] == "server_error" and "retry" in r.json()["error"]["message"]
