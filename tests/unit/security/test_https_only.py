"""Strict mode answers only over HTTPS (or behind a trusted TLS proxy); /health stays reachable for probes."""

from __future__ import annotations

import pytest

from sec_helpers import AUDIENCE, ISSUER, auth


@pytest.fixture
def strict(make_client, jwks_server):
    def make(base_url, **kw):
        return make_client(base_url=base_url, mode="strict", issuer=ISSUER, audience=AUDIENCE,
                           jwks_url=jwks_server.url, **kw)

    return make


def test_plain_http_is_refused(strict, key_a):
    client = strict("http://testserver")
    r = client.get("/api/training/jobs", headers=auth(key_a.token(roles=["analyst"])))
    assert r.status_code == 403 and r.json()["error"] == "HttpsRequired"
    assert client.get("/health").status_code == 200  # exempt: liveness probes


def test_https_is_served_with_hsts(strict, key_a):
    r = strict("https://testserver").get("/api/training/jobs", headers=auth(key_a.token(roles=["analyst"])))
    assert r.status_code == 200
    assert r.headers["strict-transport-security"].startswith("max-age=")


def test_forwarded_proto_only_when_trusted(strict, key_a):
    h = {**auth(key_a.token(roles=["analyst"])), "X-Forwarded-Proto": "https"}
    assert strict("http://testserver").get("/api/training/jobs", headers=h).status_code == 403
    assert strict("http://testserver", trust_proxy_headers=True).get("/api/training/jobs",
                                                                      headers=h).status_code == 200


def test_https_refusals_are_audited(strict, key_a):
    client = strict("http://testserver", trust_proxy_headers=True)
    client.post("/api/training/jobs", json={}, headers={"X-Forwarded-For": "203.0.113.9"})
    h = {**auth(key_a.token("aud", roles=["auditor"])), "X-Forwarded-Proto": "https"}
    rows = client.get("/api/audit", headers=h).json()["items"]
    assert rows[0]["result"] == "denied" and rows[0]["ip"] == "203.0.113.9"
    assert rows[0]["detail"]["reason"] == "this API accepts HTTPS only"
