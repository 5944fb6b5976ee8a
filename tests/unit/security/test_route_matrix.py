"""Every route x every role -> expected status, generated from the app's routes; undeclared routes fail the suite."""

from __future__ import annotations

import re

import pytest
from starlette.websockets import WebSocketDisconnect

from sec_helpers import auth, hs_token

from clara_ray.api.auth import PUBLIC, ROLE_PERMISSIONS, Principal
from clara_ray.security.runtime import declared_permissions

CALLERS = [*ROLE_PERMISSIONS, "no-role", "no-token"]


def api_routes(app) -> list:
    """(path, method, route) for every route FastAPI built from our code (its own docs routes excluded)."""
    from fastapi.routing import APIRoute, APIWebSocketRoute

    try:
        from fastapi.routing import iter_route_contexts  # FastAPI with lazily included routers

        contexts = [(rc.path, rc.methods, rc.original_route) for rc in iter_route_contexts(app.routes)]
    except ImportError:
        contexts = [(r.path, getattr(r, "methods", None), r) for r in app.routes]
    out = []
    for path, methods, route in contexts:
        if isinstance(route, APIWebSocketRoute):
            out.append((path, "WS", route))
        elif isinstance(route, APIRoute):
            out.extend((path, m, route) for m in sorted(methods or ()) if m != "HEAD")
    return out


def test_every_route_declares_exactly_one_permission(dev_client):
    routes = api_routes(dev_client.app)
    assert len(routes) >= 7, routes
    bad = {f"{m} {p}": declared_permissions(r) for p, m, r in routes if len(declared_permissions(r)) != 1}
    assert not bad, f"routes must declare exactly one permission with require(...) (public: require(PUBLIC)): {bad}"


def test_route_role_matrix(dev_client):
    failures = []
    for path, method, route in api_routes(dev_client.app):
        perms = declared_permissions(route)
        if len(perms) != 1:
            continue  # reported by the test above
        perm = perms[0]
        url = re.sub(r"\{[^}]+\}", "x1", path)
        for caller in CALLERS:
            headers = {} if caller == "no-token" else auth(hs_token(f"u-{caller}", [] if caller == "no-role"
                                                                   else [caller]))
            public = perm == PUBLIC and method != "WS"
            allowed = public or (caller != "no-token" and Principal("u", {caller}).can(perm))
            expected = "allowed" if allowed else ("401" if caller == "no-token" else "403")
            got = _ws_call(dev_client, url, headers) if method == "WS" else _http_call(dev_client, method, url, headers,
                                                                                     perm)
            if got != expected:
                failures.append(f"{method} {path} [{perm}] as {caller}: expected {expected}, got {got}")
    assert not failures, "\n".join(failures)


def _http_call(client, method, url, headers, perm) -> str:
    r = client.request(method, url, headers=headers, json={} if method in ("POST", "PUT", "PATCH") else None)
    if r.status_code == 403:  # native body names the permission; OpenAI's (on /v1) says it in the message
        body = r.json()
        missing = body["error"]["message"].removeprefix("missing permission: ") if url.startswith("/v1/") \
            else body.get("missing_permission")
        assert missing == perm, r.text
    if r.status_code == 401:
        assert r.headers.get("WWW-Authenticate", "").startswith("Bearer")
    assert "Traceback" not in r.text
    return str(r.status_code) if r.status_code in (401, 403, 429) else "allowed"


def _ws_call(client, url, headers) -> str:
    """Header token: refused before the handshake. No header: accepted, then closed unless the first message
    carries a token (so in secured modes every WebSocket needs a token, public or not)."""
    try:
        with client.websocket_connect(url, headers=dict(headers)) as ws:  # (Starlette adds to the dict it gets)
            if headers:
                return "allowed"  # handshake accepted (receive() would block on a route that never sends)
            ws.send_json({"type": "noop"})
            message = ws.receive()
    except WebSocketDisconnect as e:
        return "403" if e.code == 1008 else f"closed {e.code}"
    return "401" if message["type"] == "websocket.close" and message.get("code") == 1008 else "allowed"


@pytest.mark.parametrize("caller", CALLERS)
def test_health_stays_public(dev_client, caller):
    headers = {} if caller == "no-token" else auth(hs_token(roles=[caller]))
    assert dev_client.get("/health", headers=headers).status_code == 200
