"""Token verification: every bad token class gets 401 with WWW-Authenticate; good tokens pass (dev and production)."""

from __future__ import annotations

import json

import pytest

from sec_helpers import AUDIENCE, ISSUER, SECRET, auth, b64, claims_for, forged_hs256, hs_token

ROUTE = "/api/training/jobs"  # training:read


def _tampered(token: str) -> str:
    header, payload, sig = token.split(".")
    claims = json.loads(__import__("base64").urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["realm_access"] = {"roles": ["admin"]}
    return f"{header}.{b64(claims)}.{sig}"


BAD_RS_TOKENS = {
    "expired": lambda k: k.token(exp_in=-120),  # beyond the 30 s leeway
    "not_yet_valid": lambda k: k.token(nbf_in=120),
    "wrong_issuer": lambda k: k.token(iss="https://evil.test/realms/clara"),
    "wrong_audience": lambda k: k.token(aud="another-api"),
    "no_audience": lambda k: k.token(aud=None),
    "no_exp": lambda k: _without_exp(k),
    "alg_none": lambda k: f"{b64({'alg': 'none', 'kid': k.kid})}.{b64(claims_for('mallory', ['admin']))}.",
    "hs256_with_public_key": lambda k: forged_hs256(k.public_pem, {"alg": "HS256", "typ": "JWT", "kid": k.kid},
                                                    claims_for("mallory", ["admin"])),
    "tampered_payload": lambda k: _tampered(k.token(roles=["user"])),
    "unknown_kid": lambda k: k.token(kid="no-such-key"),
    "garbage": lambda k: "not.a.jwt",
    "hs256_dev_token": lambda k: hs_token(iss=ISSUER, aud=AUDIENCE),
}


def _without_exp(k):
    import jwt

    c = claims_for("alice", ["trainer"])
    del c["exp"]
    return jwt.encode(c, k.private, algorithm="RS256", headers={"kid": k.kid})


def test_valid_rs256_token_passes(prod_client, key_a):
    r = prod_client.get(ROUTE, headers=auth(key_a.token(roles=["analyst"])))
    assert r.status_code == 200, r.text


def test_small_clock_skew_is_tolerated(prod_client, key_a):
    r = prod_client.get(ROUTE, headers=auth(key_a.token(exp_in=-10, roles=["analyst"])))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("case", sorted(BAD_RS_TOKENS))
def test_bad_tokens_get_401(prod_client, key_a, case):
    r = prod_client.get(ROUTE, headers=auth(BAD_RS_TOKENS[case](key_a)))
    assert r.status_code == 401, (case, r.status_code, r.text)
    assert r.headers["WWW-Authenticate"].startswith('Bearer realm="clara", error="invalid_token"')
    body = r.json()
    assert body["error"] == "Unauthorized" and "Traceback" not in r.text


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic YWxpY2U6cHc="}, {"Authorization": "Bearer "}])
def test_missing_token_gets_401_challenge(prod_client, headers):
    r = prod_client.get(ROUTE, headers=headers)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="clara"'


def test_reason_names_the_problem(prod_client, key_a):
    assert prod_client.get(ROUTE, headers=auth(key_a.token(exp_in=-120))).json()["detail"] == "token expired"
    assert prod_client.get(ROUTE, headers=auth(key_a.token(aud="x"))).json()["detail"] == "invalid audience"


def test_valid_token_without_permission_gets_403_naming_it(prod_client, key_a):
    r = prod_client.post(ROUTE, json={}, headers=auth(key_a.token(roles=["analyst"])))
    assert r.status_code == 403
    assert r.json()["missing_permission"] == "training:create"


def test_client_roles_count_but_other_clients_do_not(prod_client, key_a):
    ok = key_a.token(roles=[], resource_access={"clara": {"roles": ["analyst"]}})
    other = key_a.token(roles=[], resource_access={"account": {"roles": ["admin", "analyst"]}})
    assert prod_client.get(ROUTE, headers=auth(ok)).status_code == 200
    assert prod_client.get(ROUTE, headers=auth(other)).status_code == 403


def test_dev_mode_hs256(dev_client, key_a):
    assert dev_client.get(ROUTE, headers=auth(hs_token(roles=["analyst"]))).status_code == 200
    assert dev_client.get(ROUTE, headers=auth(hs_token(secret="wrong-" + "y" * 40))).status_code == 401
    assert dev_client.get(ROUTE, headers=auth(hs_token(exp_in=-120))).status_code == 401
    assert dev_client.get(ROUTE, headers=auth(key_a.token(iss=None, aud=None))).status_code == 401  # RS256 in dev


def test_dev_mode_accepts_previous_secret_during_rotation(make_client):
    old = "old-secret-" + "o" * 32
    client = make_client(mode="dev", jwt_secret=SECRET, jwt_previous_secrets=[old])
    assert client.get(ROUTE, headers=auth(hs_token(secret=old, roles=["analyst"]))).status_code == 200
    assert client.get(ROUTE, headers=auth(hs_token(secret=SECRET, roles=["analyst"]))).status_code == 200


def test_devtoken_cli_mints_verifiable_tokens(dev_client):
    from clara_ray.security.devtoken import mint

    token = mint(SECRET, "bob", ["auditor"])
    assert dev_client.get("/api/audit", headers=auth(token)).status_code == 200


def test_off_mode_is_anonymous_admin(make_client):
    client = make_client(mode="off")
    assert client.get(ROUTE).status_code == 200
    assert client.post(ROUTE + "/abc/retry").status_code == 201
