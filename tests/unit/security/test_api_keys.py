"""Long-lived API keys: created by an admin (shown once, stored hashed), used as bearer keys next to JWTs, revoked."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import openai
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from sec_helpers import AUDIENCE, ISSUER, SECRET, FakeBackend, auth, hs_token

from clara_ray.api.auth import ROLE_PERMISSIONS
from clara_ray.security.api_keys import (KEY_PREFIX, ApiKeyNotFound, ApiKeyRejected, ApiKeyStore, InvalidKeyRequest,
                                         hash_key)

JOB = {"name": "bau", "data_paths": ["clara_ray/resources/corpus/qa.jsonl"]}  # under training.data_roots
MODELS = [{"id": "base-model", "object": "model", "owned_by": "clara", "created": 0},
          {"id": "baurecht", "object": "model", "owned_by": "clara", "created": 0}]


class FakeCatalog:
    def models(self) -> list[dict]:
        return [dict(m) for m in MODELS]


class FakeServing(FakeBackend):
    """The serving backend as /v1/models sees it: a catalog of models."""

    catalog = FakeCatalog()


@pytest.fixture
def make_app(settings):
    """make_app(**security) -> TestClient over build_app with a serving backend whose catalog lists MODELS."""
    from clara_ray.api.app import build_app
    from clara_ray.security.install import install_security
    from clara_ray.security.settings import SecurityConfig

    clients: list[TestClient] = []

    def make(base_url: str = "http://testserver", **security) -> TestClient:
        s = settings.model_copy(update={"security": SecurityConfig(**security)})
        app = build_app(s, jobs=FakeBackend(), serving=FakeServing(), datasets=FakeBackend(), learning=FakeBackend())
        install_security(app, s)
        client = TestClient(app, base_url=base_url, raise_server_exceptions=False)
        clients.append(client)
        return client

    yield make
    for c in clients:
        rt = getattr(c.app.state, "security_runtime", None)
        if rt is not None:
            rt.api_keys.dispose()
            if rt.audit is not None:
                rt.audit.dispose()
        c.close()


@pytest.fixture
def dev(make_app) -> TestClient:
    return make_app(mode="dev", jwt_secret=SECRET)


@pytest.fixture
def prod(make_app, jwks_server) -> TestClient:
    return make_app(mode="production", issuer=ISSUER, audience=AUDIENCE, jwks_url=jwks_server.url,
                    jwks_min_refetch_seconds=0)


def dev_admin() -> dict:
    return auth(hs_token("root", ["admin"]))


def create_key(client: TestClient, admin: dict, name: str = "ci", roles=("user",), **extra) -> dict:
    r = client.post("/api/keys", json={"name": name, "roles": list(roles), **extra}, headers=admin)
    assert r.status_code == 201, r.text
    return r.json()


def listed(client: TestClient, admin: dict, key_id: str) -> dict:
    r = client.get("/api/keys", headers=admin)
    assert r.status_code == 200, r.text
    return next(item for item in r.json()["items"] if item["id"] == key_id)


def store_of(client: TestClient) -> ApiKeyStore:
    return client.app.state.security_runtime.api_keys


def test_key_is_shown_once_and_only_its_hash_is_stored(dev, settings):
    created = create_key(dev, dev_admin(), name="ci-pipeline", roles=["trainer", "user"], expires_in_days=30)
    key = created["key"]
    assert key.startswith(KEY_PREFIX) and len(key) >= len(KEY_PREFIX) + 43  # 32 random bytes, url-safe base64
    assert set(created) == {"id", "name", "roles", "prefix", "key", "created_at", "expires_at"}
    assert created["name"] == "ci-pipeline" and created["roles"] == ["trainer", "user"]
    assert key.startswith(created["prefix"]) and len(created["prefix"]) < len(key) - 32
    expires = datetime.fromisoformat(created["expires_at"]) - datetime.fromisoformat(created["created_at"])
    assert expires == timedelta(days=30)

    page = dev.get("/api/keys", headers=dev_admin())
    assert key not in page.text and "hash" not in page.text
    item = page.json()["items"][0]
    assert item == {"id": created["id"], "name": "ci-pipeline", "roles": ["trainer", "user"],
                    "prefix": created["prefix"], "created_by": "root", "created_at": created["created_at"],
                    "expires_at": created["expires_at"], "last_used_at": None, "revoked_at": None}

    engine = create_engine(settings.storage.database_url)
    with engine.connect() as c:
        rows = [dict(r._mapping) for r in c.execute(text("SELECT * FROM api_keys"))]
    engine.dispose()
    assert len(rows) == 1
    assert rows[0]["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
    assert not any(key in str(v) for v in rows[0].values())  # never the plaintext, in any column


def test_openai_sdk_with_a_key_in_production_mode_then_revoked(prod, key_a):
    admin = auth(key_a.token("root", ["admin"]))
    created = create_key(prod, admin, name="chat-app", roles=["user"])
    sdk = openai.OpenAI(base_url="http://testserver/v1", api_key=created["key"], http_client=prod, max_retries=0)

    models = sdk.models.list()
    assert [m.id for m in models.data] == ["base-model", "baurecht"]
    assert listed(prod, admin, created["id"])["last_used_at"] is not None

    revoked = prod.delete(f"/api/keys/{created['id']}", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert revoked.json()["id"] == created["id"] and "key" not in revoked.json()
    with pytest.raises(openai.AuthenticationError) as err:
        sdk.models.list()
    assert err.value.status_code == 401
    r = prod.get("/v1/models", headers=auth(created["key"]))
    assert r.status_code == 401 and r.json()["error"]["message"] == "API key revoked"
    assert r.json()["error"]["type"] == "authentication_error"  # OpenAI's shape on /v1
    assert r.headers["WWW-Authenticate"].startswith('Bearer realm="clara", error="invalid_token"')


def test_jwts_keep_working_next_to_keys(prod, key_a):
    create_key(prod, auth(key_a.token("root", ["admin"])))
    assert prod.get("/v1/models", headers=auth(key_a.token("uma", ["user"]))).status_code == 200


def test_strict_mode_accepts_keys_over_https(make_app, jwks_server, key_a):
    strict = make_app(base_url="https://testserver", mode="strict", issuer=ISSUER, audience=AUDIENCE,
                      jwks_url=jwks_server.url)
    created = create_key(strict, auth(key_a.token("root", ["admin"])), roles=["analyst"])
    me = strict.get("/api/me", headers=auth(created["key"]))
    assert me.status_code == 200, me.text
    assert me.json()["subject"] == f"key:{created['id']}" and me.json()["name"] == "ci"
    assert me.json()["roles"] == ["analyst"]


def test_key_roles_limit_what_it_may_do(dev):
    user_key = create_key(dev, dev_admin(), name="reader", roles=["user"])["key"]
    r = dev.post("/api/training/jobs", json=JOB, headers=auth(user_key))
    assert r.status_code == 403 and r.json()["missing_permission"] == "training:create"
    trainer_key = create_key(dev, dev_admin(), name="trainer-bot", roles=["trainer"])["key"]
    assert dev.post("/api/training/jobs", json=JOB, headers=auth(trainer_key)).status_code == 201
    r = dev.post("/api/keys", json={"name": "escalate", "roles": ["admin"]}, headers=auth(trainer_key))
    assert r.status_code == 403 and r.json()["missing_permission"] == "keys:admin"  # a key cannot mint keys


def test_expired_key_is_refused(dev):
    created = create_key(dev, dev_admin(), name="temp", roles=["user"], expires_in_days=1)
    assert dev.get("/v1/models", headers=auth(created["key"])).status_code == 200
    store = store_of(dev)
    store.clock = lambda: datetime.now(timezone.utc) + timedelta(days=1, seconds=1)
    r = dev.get("/v1/models", headers=auth(created["key"]))
    assert r.status_code == 401 and r.json()["error"]["message"] == "API key expired"


def test_unknown_or_malformed_keys_get_401(dev):
    for bad in (KEY_PREFIX + "A" * 43, KEY_PREFIX, KEY_PREFIX + "x" * 500):
        r = dev.get("/v1/models", headers=auth(bad))
        assert r.status_code == 401 and r.json()["error"]["message"] == "invalid API key", (bad[:20], r.text)


def test_key_use_is_audited_with_the_key_as_actor(dev):
    created = create_key(dev, dev_admin(), name="trainer-bot", roles=["trainer"])
    key = created["key"]
    assert dev.post("/api/training/jobs", json=JOB, headers=auth(key)).status_code == 201
    assert dev.delete(f"/api/keys/{created['id']}", headers=dev_admin()).status_code == 200
    assert dev.post("/api/training/jobs", json=JOB, headers=auth(key)).status_code == 401

    page = dev.get("/api/audit", headers=dev_admin()).json()
    rows = [(e["actor"], e["action"], e["resource"], e["result"]) for e in reversed(page["items"])]
    assert rows == [
        ("root", "keys:admin", "/api/keys", "success"),
        (f"key:{created['id']}", "training:create", "/api/training/jobs", "success"),
        ("root", "keys:admin", f"/api/keys/{created['id']}", "success"),
        ("anonymous", "training:create", "/api/training/jobs", "denied"),
    ]
    assert page["items"][2]["detail"]["name"] == "trainer-bot"
    assert page["items"][0]["detail"]["reason"] == "API key revoked"
    assert key not in str(page) and key[len(created["prefix"]):] not in str(page)


def test_keys_are_rate_limited_like_tokens(dev):
    first = create_key(dev, dev_admin(), name="bot-1", roles=["trainer"])["key"]
    second = create_key(dev, dev_admin(), name="bot-2", roles=["trainer"])["key"]
    statuses = [dev.post("/api/training/jobs", json=JOB, headers=auth(first)).status_code for _ in range(6)]
    assert statuses == [201] * 5 + [429]
    assert dev.post("/api/training/jobs", json=JOB, headers=auth(second)).status_code == 201  # per key
    # a JWT user is a different bucket from any key
    assert dev.post("/api/training/jobs", json=JOB, headers=auth(hs_token("alice", ["trainer"]))).status_code == 201


@pytest.mark.parametrize("role", [r for r in ROLE_PERMISSIONS if r != "admin"])
def test_only_admins_manage_keys(dev, role):
    h = auth(hs_token("someone", [role]))
    for method, url, body in (("POST", "/api/keys", {"name": "x", "roles": ["user"]}), ("GET", "/api/keys", None),
                              ("DELETE", "/api/keys/abc", None)):
        r = dev.request(method, url, json=body, headers=h)
        assert r.status_code == 403 and r.json()["missing_permission"] == "keys:admin", (method, r.text)
    assert dev.get("/api/keys").status_code == 401


@pytest.mark.parametrize("body, field", [
    ({"name": "x", "roles": ["wizard"]}, "roles"),
    ({"name": "x", "roles": []}, "roles"),
    ({"name": "x", "roles": "admin"}, "roles"),
    ({"name": "x"}, "roles"),
    ({"name": "", "roles": ["user"]}, "name"),
    ({"name": "has space", "roles": ["user"]}, "name"),
    ({"name": "n" * 65, "roles": ["user"]}, "name"),
    ({"name": "x", "roles": ["user"], "expires_in_days": 0}, "expires_in_days"),
    ({"name": "x", "roles": ["user"], "expires_in_days": "soon"}, "expires_in_days"),
    ({"name": "x", "roles": ["user"], "owner": "me"}, "owner"),
])
def test_bad_create_bodies_get_422_naming_the_field(dev, body, field):
    r = dev.post("/api/keys", json=body, headers=dev_admin())
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "ValidationError"
    assert [e["field"] for e in r.json()["detail"]] == [field], r.text


def test_unknown_role_message_lists_known_roles(dev):
    r = dev.post("/api/keys", json={"name": "x", "roles": ["user", "wizard"]}, headers=dev_admin())
    message = r.json()["detail"][0]["message"]
    assert "'wizard'" in message and "auditor" in message
    assert dev.get("/api/keys", headers=dev_admin()).json()["items"] == []  # nothing created


def test_revoke_unknown_key_is_404_and_revoke_is_idempotent(dev):
    r = dev.delete("/api/keys/nope", headers=dev_admin())
    assert r.status_code == 404 and r.json() == {"error": "ApiKeyNotFound", "detail": "no API key with id 'nope'"}
    created = create_key(dev, dev_admin())
    first = dev.delete(f"/api/keys/{created['id']}", headers=dev_admin()).json()
    again = dev.delete(f"/api/keys/{created['id']}", headers=dev_admin()).json()
    assert first["revoked_at"] == again["revoked_at"] is not None


def test_mode_off_makes_no_keys(make_app):
    off = make_app(mode="off")
    r = off.post("/api/keys", json={"name": "x", "roles": ["admin"]})
    assert r.status_code == 409 and r.json()["error"] == "ApiKeysUnavailable"
    assert off.get("/api/keys").json() == {"items": []}


def test_keys_can_be_switched_off(make_app):
    client = make_app(mode="dev", jwt_secret=SECRET, api_keys_enabled=False)
    r = client.post("/api/keys", json={"name": "x", "roles": ["user"]}, headers=dev_admin())
    assert r.status_code == 409 and "api_keys_enabled" in r.json()["detail"]
    store = store_of(client)
    _, key = store.create(name="old", roles=["user"], known_roles=ROLE_PERMISSIONS)
    r = client.get("/v1/models", headers=auth(key))
    assert r.status_code == 401 and r.json()["error"]["message"] == "API keys are disabled on this server"


# ---------------------------------------------------------------- the store itself, on SQLite and PostgreSQL


class Clock:
    def __init__(self):
        self.now = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store(db_url):
    s = ApiKeyStore(db_url, clock=Clock())
    yield s
    s.dispose()


def test_store_verify_expiry_revocation(store):
    clock: Clock = store.clock
    row, key = store.create(name="ci", roles=["user", "trainer", "user"], known_roles=ROLE_PERMISSIONS,
                            expires_in_days=2, created_by="root")
    assert row.roles == ["trainer", "user"] and row.key_hash == hash_key(key)
    identity = store.verify(key)
    assert identity is not None and identity.subject == f"key:{row.id}" and identity.roles == {"trainer", "user"}
    assert store.verify(key + "x") is None and store.verify("not-a-key") is None
    clock.now += timedelta(days=2)
    with pytest.raises(ApiKeyRejected, match="API key expired"):
        store.verify(key)
    store.revoke(row.id)
    with pytest.raises(ApiKeyRejected, match="API key revoked"):
        store.verify(key)
    with pytest.raises(ApiKeyNotFound):
        store.revoke("missing")
    with pytest.raises(InvalidKeyRequest) as err:
        store.create(name="x", roles=["root"], known_roles=ROLE_PERMISSIONS)
    assert err.value.field == "roles"


def test_store_writes_last_used_at_most_once_a_minute(store):
    clock: Clock = store.clock
    row, key = store.create(name="ci", roles=["user"], known_roles=ROLE_PERMISSIONS)
    start = clock.now

    def last_used() -> datetime | None:
        return next(r for r in store.list() if r.id == row.id).last_used_at

    assert last_used() is None
    store.verify(key)
    assert last_used() == start
    clock.now = start + timedelta(seconds=59)
    store.verify(key)
    assert last_used() == start  # within the minute: no write
    clock.now = start + timedelta(seconds=61)
    store.verify(key)
    assert last_used() == start + timedelta(seconds=61)


def test_store_lists_newest_first(store):
    clock: Clock = store.clock
    for name in ("a", "b", "c"):
        store.create(name=name, roles=["user"], known_roles=ROLE_PERMISSIONS)
        clock.now += timedelta(seconds=1)
    assert [r.name for r in store.list()] == ["c", "b", "a"]
