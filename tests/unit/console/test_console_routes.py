"""Console routes without a browser: files, headers, login settings per mode, /api/me, training defaults, 503s."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from sec_helpers import AUDIENCE, hs_token

from clara_ray.console.routes import STATIC


def prod_security(issuer: str) -> dict:
    return {"mode": "production", "issuer": issuer, "audience": AUDIENCE}


def client(app) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


def test_console_files_are_served_with_a_strict_policy(build):
    c = client(build())
    r = c.get("/", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/console/"
    page = c.get("/console/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/console/js/app.js">' in page.text
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    for path, kind in [("/console/js/app.js", "text/javascript"), ("/console/vendor/preact-htm.mjs", "text/javascript"),
                       ("/console/vendor/uplot.mjs", "text/javascript"), ("/console/console.css", "text/css")]:
        r = c.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith(kind), path
        assert r.headers["x-content-type-options"] == "nosniff"
    # Views live in the URL fragment; any other page path is the app, a missing file is a 404.
    assert c.get("/console/training").text == page.text
    assert c.get("/console/js/nope.js").status_code == 404
    assert c.get("/console/..%2F..%2Fconfig.py").status_code == 404
    assert c.get("/console/%2e%2e/routes.py").status_code == 404


def test_every_console_module_import_exists():
    """Each relative ES-module import of the console names a file that is there (no build step would catch it)."""
    import re

    for js in STATIC.rglob("*.js"):
        for target in re.findall(r"from '(\.[^']+)'", js.read_text()):
            assert (js.parent / target).resolve().is_file(), f"{js.relative_to(STATIC)} imports missing {target}"


def test_console_can_be_disabled(build):
    c = client(build(console={"enabled": False}))
    assert c.get("/console/").status_code == 404
    assert c.get("/console/config.json").json()["detail"].startswith("the console is disabled")


def test_login_settings_per_mode(build, dev_security):
    off = client(build()).get("/console/config.json").json()
    assert off == {"mode": "off", "token_login": False, "oidc": None}
    dev = client(build(**dev_security)).get("/console/config.json").json()
    assert dev == {"mode": "dev", "token_login": True, "oidc": None}

    issuer = "https://kc.example.com/realms/clara"
    c = client(build(**prod_security(issuer), client_id="clara-api"))
    cfg = c.get("/console/config.json").json()
    assert cfg["token_login"] is False
    assert cfg["oidc"] == {"issuer": issuer, "client_id": "clara-api",
                           "authorization_endpoint": f"{issuer}/protocol/openid-connect/auth",
                           "token_endpoint": f"{issuer}/protocol/openid-connect/token",
                           "logout_endpoint": None, "scope": "openid profile"}
    # The page may post the code to the token endpoint's origin, and nowhere else.
    csp = c.get("/console/").headers["content-security-policy"]
    assert "connect-src 'self' https://kc.example.com;" in csp

    custom = client(build(**prod_security(issuer), console={
        "oidc_client_id": "clara-console", "oidc_token_endpoint": "https://sso.example.org/token",
        "oidc_logout_endpoint": "https://sso.example.org/logout"})).get("/console/config.json").json()["oidc"]
    assert custom["client_id"] == "clara-console" and custom["token_endpoint"] == "https://sso.example.org/token"
    assert custom["logout_endpoint"] == "https://sso.example.org/logout"


def test_me_reports_roles_and_permissions(build, dev_security):
    c = client(build(**dev_security))
    assert c.get("/api/me").status_code == 401
    assert c.get("/api/me", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    me = c.get("/api/me", headers={"Authorization": f"Bearer {hs_token('ana', ['analyst'])}"}).json()
    assert me["subject"] == "ana" and me["roles"] == ["analyst"] and me["mode"] == "dev"
    assert me["permissions"] == ["adapters:read", "datasets:read", "datasets:search", "training:read"]
    nobody = c.get("/api/me", headers={"Authorization": f"Bearer {hs_token('nob', [])}"}).json()
    assert nobody["roles"] == [] and nobody["permissions"] == []
    anonymous = client(build()).get("/api/me").json()
    assert anonymous["roles"] == ["admin"] and anonymous["permissions"] == ["*"] and anonymous["mode"] == "off"


def test_training_defaults_follow_the_config(build):
    d = client(build()).get("/api/training/defaults").json()
    assert d["base_model"] == "tiny" and d["lora"]["r"] == 16 and d["qlora_bits"] == 4
    assert d["by_trainer_type"]["LORA"]["learning_rate"] == 2e-3
    assert d["by_trainer_type"]["CONTINUOUS"] == {"learning_rate": 2e-3, "epochs": 3}  # the tiny base's cycle recipe


@pytest.mark.parametrize("method,path,body", [
    ("GET", "/api/training/jobs", None), ("GET", "/api/training/jobs/x1/metrics", None),
    ("GET", "/api/serving/adapters/list", None), ("POST", "/v1/chat/completions",
                                                  {"model": "base", "messages": [{"role": "user", "content": "hi"}]}),
    ("GET", "/api/learning/buffer", None)])
def test_a_missing_backend_is_a_503_that_names_it(build, method, path, body):
    r = client(build()).request(method, path, json=body)
    body = r.json()
    message = body["error"]["message"] if path.startswith("/v1/") else body["detail"]  # OpenAI's shape on /v1
    assert r.status_code == 503 and "is not configured on this API" in message, r.text
    assert "Traceback" not in r.text
