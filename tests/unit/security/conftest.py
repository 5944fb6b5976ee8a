"""Security test fixtures: signing keys, a JWKS server, and apps built from the real build_app + install_security."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

try:  # plain `pytest` does not put the repo root on sys.path
    import clara_ray  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sec_helpers import AUDIENCE, ISSUER, SECRET, FakeBackend, JwksServer, SigningKey  # noqa: E402


@pytest.fixture(scope="session")
def key_a() -> SigningKey:
    return SigningKey("key-a")


@pytest.fixture(scope="session")
def key_b() -> SigningKey:
    return SigningKey("key-b")


@pytest.fixture
def jwks_server(key_a):
    server = JwksServer()
    server.publish(key_a)
    yield server
    server.close()


def _backend_names(build_app) -> list[str]:
    """Every backend build_app accepts: its BACKENDS list (for **backends) or its keyword-only parameters."""
    import clara_ray.api.app as app_module

    params = inspect.signature(build_app).parameters.values()
    named = [p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]
    return named + [n for n in getattr(app_module, "BACKENDS", ()) if n not in named]


@pytest.fixture
def make_client(settings):
    """make_client(mode=..., **security fields) -> TestClient over build_app(...) + install_security(...)."""
    from clara_ray.api.app import build_app
    from clara_ray.security.install import install_security
    from clara_ray.security.settings import SecurityConfig

    clients = []

    def make(base_url: str = "http://testserver", **security) -> TestClient:
        s = settings.model_copy(update={"security": SecurityConfig(**security)})
        backends = {name: FakeBackend() for name in _backend_names(build_app)}
        app = build_app(s, **backends)
        install_security(app, s)
        client = TestClient(app, base_url=base_url, raise_server_exceptions=False)
        clients.append(client)
        return client

    yield make
    for c in clients:
        rt = getattr(c.app.state, "security_runtime", None)
        if rt is not None and rt.audit is not None:
            rt.audit.dispose()
        c.close()


@pytest.fixture
def dev_client(make_client):
    return make_client(mode="dev", jwt_secret=SECRET)


@pytest.fixture
def prod_client(make_client, jwks_server):
    return make_client(mode="production", issuer=ISSUER, audience=AUDIENCE, jwks_url=jwks_server.url,
                       jwks_min_refetch_seconds=0)
