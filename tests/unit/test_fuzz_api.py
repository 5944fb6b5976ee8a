"""Schema fuzzing (schemathesis) of every route of /openapi.json against the real app: no 5xx, conformant answers.

The app runs in-process (ASGI) over real backends: the serving service on the tiny CPU model, the completion log,
the dataset service, a learning loop and a job manager whose launcher only records jobs (nothing trains). Two
modes: security off, and production (RS256 via a local JWKS) with an admin token. Routes that start work get a
small example count of their own; the whole run stays within a few minutes on 2 cores.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings as hsettings, strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_headers_conformance,
                                               response_schema_conformance)

sys.path.insert(0, str(Path(__file__).resolve().parent / "security"))
from sec_helpers import AUDIENCE, ISSUER, JwksServer, SigningKey, auth  # noqa: E402

from clara_ray.api.app import build_app  # noqa: E402
from clara_ray.training.alias_recipes import AliasRecipes  # noqa: E402
from clara_ray.datasets.service import DatasetService  # noqa: E402
from clara_ray.learning.loop import LearningLoop  # noqa: E402
from clara_ray.security.settings import SecurityConfig  # noqa: E402
from clara_ray.training.manager import JobManager  # noqa: E402
from clara_ray.learning.control import InProcessLearning  # noqa: E402
from clara_ray.training.control import InProcessJobs  # noqa: E402
from tests.serving_world import serving_world  # noqa: E402

pytestmark = pytest.mark.timeout(600)

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance, response_headers_conformance]
EXAMPLES = 25  # per route and mode
# Routes that start work (jobs, cycles, ingest, generation on the CPU model) or change the served state: fewer.
EXAMPLES_BY_ROUTE = {
    "POST /api/training/jobs": 4, "POST /api/training/jobs/{job_id}/retry": 4, "POST /api/learning/trigger": 4,
    "POST /api/datasets/corpus/ingest": 4, "POST /api/datasets": 4, "POST /api/adapters/import": 4,
    "POST /v1/chat/completions": 6, "POST /v1/completions": 6, "POST /api/serving/generate": 6,
    "POST /api/serving/chat": 6,
}


class _Run:
    """A launched job that never ends by itself (nothing trains); cancel ends it."""

    def __init__(self):
        self.done = asyncio.Event()

    async def result(self) -> dict:
        await self.done.wait()
        raise RuntimeError("cancelled")

    async def cancel(self) -> None:
        self.done.set()


class RecordingLauncher:
    def launch(self, job_id: str, request: dict) -> _Run:
        return _Run()

    def reattach(self, job_id: str) -> None:
        return None


@dataclass
class World:
    settings: object
    backends: dict
    closers: list = field(default_factory=list)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    sw = serving_world(tmp_path_factory.mktemp("fuzz"), max_new_tokens=64)
    settings, db, serving, completions = sw.settings, sw.db, sw.service, sw.completions
    jobs = InProcessJobs(JobManager(settings, db, RecordingLauncher()))
    learning = InProcessLearning(LearningLoop(settings, db, jobs=jobs, evaluate=None))
    datasets = DatasetService(settings, db)
    w = World(settings, {"serving": serving, "completions": completions, "jobs": jobs, "learning": learning,
                         "datasets": datasets, "recipes": AliasRecipes(db)})
    yield w
    sw.close()


@dataclass
class FuzzReport:
    failures: dict[str, str] = field(default_factory=dict)
    """'METHOD /path' -> its first failure (schemathesis' report), for the operations that failed."""
    statuses: dict[str, Counter] = field(default_factory=dict)
    """'METHOD /path' -> how often each status was answered."""

    def summary(self) -> str:
        lines = [f"{op}: {dict(sorted(c.items()))}" for op, c in sorted(self.statuses.items())]
        return "\n".join(lines + [""] + [f"{k}\n{v}" for k, v in self.failures.items()])


def fuzz(app, headers: dict) -> FuzzReport:
    """Every operation of the app's schema, fuzzed with valid (schema-conformant) and invalid data."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    report = FuzzReport()
    for result in schema.get_all_operations():
        op = result.ok()
        label = f"{op.method.upper()} {op.path}"
        seen = report.statuses.setdefault(label, Counter())

        @hsettings(max_examples=EXAMPLES_BY_ROUTE.get(label, EXAMPLES), deadline=None, database=None,
                   derandomize=True, phases=[Phase.explicit, Phase.generate],
                   suppress_health_check=list(HealthCheck))
        @given(case=st.one_of(op.as_strategy(GenerationMode.POSITIVE), op.as_strategy(GenerationMode.NEGATIVE)))
        def run(case):
            response = case.call_and_validate(headers=headers, checks=CHECKS)
            seen[response.status_code] += 1

        try:
            run()
        except (Exception, BaseExceptionGroup) as e:  # noqa: BLE001 - collected per route, reported together
            report.failures[label] = f"{type(e).__name__}: {str(e)[:1500]}"
    return report


def assert_clean(report: FuzzReport) -> None:
    assert len(report.statuses) >= 40, report.summary()  # the schema lists every route (WebSockets aside)
    assert not report.failures, report.summary()
    unexercised = [op for op, c in report.statuses.items() if not c]
    assert not unexercised, f"never called: {unexercised}\n{report.summary()}"
    print(report.summary())  # with -s: what each route answered


def test_fuzz_with_security_off(world):
    settings = world.settings.model_copy(update={"security": SecurityConfig(mode="off")})
    app = build_app(settings, **world.backends)
    assert_clean(fuzz(app, {}))


def test_fuzz_in_production_with_an_admin_token(world):
    key, jwks = SigningKey("fuzz"), JwksServer()
    jwks.publish(key)
    try:
        settings = world.settings.model_copy(update={"security": SecurityConfig(
            mode="production", issuer=ISSUER, audience=AUDIENCE, jwks_url=jwks.url, jwks_min_refetch_seconds=0)})
        app = build_app(settings, **world.backends)
        report = fuzz(app, auth(key.token("fuzz-admin", ["admin"])))
        rt = getattr(app.state, "security_runtime", None)
        if rt is not None and rt.audit is not None:
            rt.audit.dispose()
    finally:
        jwks.close()
    assert_clean(report)
    assert not any(401 in c for c in report.statuses.values()), report.summary()  # the admin's token was accepted


def _numbers_in(schema: dict) -> list[dict]:
    """The numeric schemas among `schema` and its anyOf/oneOf branches."""
    branches = [schema, *schema.get("anyOf", []), *schema.get("oneOf", [])]
    return [b for b in branches if b.get("type") in ("integer", "number")]


def test_every_numeric_query_parameter_is_bounded(world):
    """Unbounded numbers reach SQL and tensors (an offset above 2**63 was a 500): each has a minimum and a maximum."""
    app = build_app(world.settings.model_copy(update={"security": SecurityConfig(mode="off")}), **world.backends)
    unbounded = []
    for path, operations in app.openapi()["paths"].items():
        for method, op in operations.items():
            for p in op.get("parameters", []):
                for num in _numbers_in(p.get("schema", {})):
                    if not ({"minimum", "exclusiveMinimum"} & num.keys() and
                            {"maximum", "exclusiveMaximum"} & num.keys()):
                        unbounded.append(f"{method.upper()} {path} ?{p['name']}")
    assert not unbounded, unbounded


def test_the_root_causes_the_fuzzer_found_are_4xx(world):
    """Deterministic repeats of what the fuzzer found: huge offsets, a null router setting, an empty stop string."""
    from fastapi.testclient import TestClient

    app = build_app(world.settings.model_copy(update={"security": SecurityConfig(mode="off")}), **world.backends)
    with TestClient(app, raise_server_exceptions=False) as client:
        for path in ("/api/training/jobs", "/api/datasets", "/api/audit", "/api/completions"):
            r = client.get(path, params={"offset": 2**63 + 1})
            assert r.status_code == 422 and r.json()["detail"][0]["field"] == "query.offset", (path, r.text)
        r = client.post("/api/serving/router/configure", json={"use_embeddings": None})
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "use_embeddings", r.text
        # nothing was stored: the next configure works and the router keeps a boolean
        r = client.post("/api/serving/router/configure", json={"conf_low": 0.4})
        assert r.status_code == 200 and r.json()["use_embeddings"] is False and r.json()["conf_low"] == 0.4
        for stop in ("", [""], ["x", ""]):
            for path, body in (("/v1/chat/completions", {"model": "baurecht",
                                                         "messages": [{"role": "user", "content": "Hallo"}]}),
                               ("/v1/completions", {"model": "baurecht", "prompt": "Hallo"})):
                r = client.post(path, json={**body, "stop": stop, "max_tokens": 2})
                assert r.status_code == 400 and r.json()["error"]["param"] == "stop", (path, stop, r.text)
            r = client.post("/api/serving/generate", json={"prompt": "Hallo", "adapter": "baurecht", "stop": stop,
                                                           "max_tokens": 2})
            assert r.status_code == 422 and "stop" in r.text, (stop, r.text)
        # the smallest positive top_p is valid: it samples (greedily in effect) instead of failing the multinomial
        r = client.post("/api/serving/generate", json={"prompt": "Hallo", "adapter": "baurecht", "top_p": 5e-324,
                                                       "temperature": 1.0, "max_tokens": 2})
        assert r.status_code == 200 and isinstance(r.json()["text"], str), r.text
        r = client.post("/v1/completions", content=b"\xff{not json", headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and "error" in r.json() and "message" in r.json()["error"], r.text
