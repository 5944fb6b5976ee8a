"""JWKS at a local HTTP server: keys cached for the TTL, rotation picked up on an unknown kid, refetches throttled."""

from __future__ import annotations

import time

from sec_helpers import AUDIENCE, ISSUER, auth

ROUTE = "/api/training/jobs"


def _client(make_client, server, **kw):
    return make_client(mode="production", issuer=ISSUER, audience=AUDIENCE, jwks_url=server.url, **kw)


def test_keys_are_cached(make_client, jwks_server, key_a):
    client = _client(make_client, jwks_server)
    for _ in range(5):
        assert client.get(ROUTE, headers=auth(key_a.token(roles=["analyst"]))).status_code == 200
    assert jwks_server.hits == 1


def test_key_rotation_is_picked_up(make_client, jwks_server, key_a, key_b):
    client = _client(make_client, jwks_server, jwks_min_refetch_seconds=0)
    assert client.get(ROUTE, headers=auth(key_a.token(roles=["analyst"]))).status_code == 200
    jwks_server.publish(key_a, key_b)  # the IdP adds a new key and starts signing with it
    assert client.get(ROUTE, headers=auth(key_b.token(roles=["analyst"]))).status_code == 200
    assert jwks_server.hits == 2
    jwks_server.publish(key_b)  # the old key is retired: its tokens die once the cache refreshes
    client.app.state.security_runtime.verifier.jwks._fetched_at = float("-inf")  # TTL elapsed
    r = client.get(ROUTE, headers=auth(key_a.token(roles=["analyst"])))
    assert r.status_code == 401 and r.json()["detail"] == "unknown signing key"
    assert client.get(ROUTE, headers=auth(key_b.token(roles=["analyst"]))).status_code == 200


def test_ttl_expiry_refetches(make_client, jwks_server, key_a):
    client = _client(make_client, jwks_server, jwks_cache_seconds=0.2, jwks_min_refetch_seconds=0)
    assert client.get(ROUTE, headers=auth(key_a.token(roles=["analyst"]))).status_code == 200
    time.sleep(0.3)
    assert client.get(ROUTE, headers=auth(key_a.token(roles=["analyst"]))).status_code == 200
    assert jwks_server.hits == 2


def test_unknown_kid_refetches_are_throttled(make_client, jwks_server, key_a):
    client = _client(make_client, jwks_server, jwks_min_refetch_seconds=60)
    assert client.get(ROUTE, headers=auth(key_a.token(roles=["analyst"]))).status_code == 200
    for i in range(5):
        assert client.get(ROUTE, headers=auth(key_a.token(kid=f"random-{i}"))).status_code == 401
    assert jwks_server.hits == 1


def test_idp_down_keeps_cached_keys_and_without_keys_answers_503(make_client, jwks_server, key_a):
    client = _client(make_client, jwks_server, jwks_cache_seconds=0.1, jwks_min_refetch_seconds=0)
    assert client.get(ROUTE, headers=auth(key_a.token(roles=["analyst"]))).status_code == 200
    jwks_server.up = False
    time.sleep(0.15)
    assert client.get(ROUTE, headers=auth(key_a.token(roles=["analyst"]))).status_code == 200  # stale keys kept
    cold = _client(make_client, jwks_server)
    r = cold.get(ROUTE, headers=auth(key_a.token(roles=["analyst"])))
    assert r.status_code == 503 and "Retry-After" in r.headers


def test_default_jwks_url_is_keycloaks():
    from clara_ray.security.settings import SecurityConfig

    cfg = SecurityConfig(mode="production", issuer="https://kc.example.com/realms/clara/", audience="clara")
    assert cfg.effective_jwks_url == "https://kc.example.com/realms/clara/protocol/openid-connect/certs"
