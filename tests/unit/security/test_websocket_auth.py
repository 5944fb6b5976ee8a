"""WebSocket auth: token in the Authorization header or in the first message; denials close with 1008."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import WebSocket
from starlette.websockets import WebSocketDisconnect

from sec_helpers import auth, hs_token

from clara_ray.api.auth import Principal, require


def _with_ws_routes(client):
    @client.app.websocket("/test/ws")
    async def guarded(ws: WebSocket, who: Annotated[Principal, require("training:read")]) -> None:
        await ws.accept()
        await ws.send_json({"hello": who.subject})
        await ws.close()

    @client.app.websocket("/test/open-ws")
    async def undeclared(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_json({"secret": "data"})
        await ws.close()

    return client


@pytest.fixture
def ws_client(dev_client):
    return _with_ws_routes(dev_client)


def test_token_in_header(ws_client):
    with ws_client.websocket_connect("/test/ws", headers=auth(hs_token("alice", ["analyst"]))) as ws:
        assert ws.receive_json() == {"hello": "alice"}


def test_token_in_first_message(ws_client):
    with ws_client.websocket_connect("/test/ws") as ws:
        ws.send_json({"type": "auth", "token": hs_token("bob", ["trainer"])})
        assert ws.receive_json() == {"hello": "bob"}


@pytest.mark.parametrize("first", [{"type": "hello"}, {"type": "auth", "token": "garbage"}, "not json"])
def test_bad_first_message_closes_1008(ws_client, first):
    with ws_client.websocket_connect("/test/ws") as ws:
        ws.send_json(first) if isinstance(first, dict) else ws.send_text(first)
        with pytest.raises(WebSocketDisconnect) as e:
            ws.receive_json()
    assert e.value.code == 1008


def test_role_without_permission_is_refused(ws_client):
    with pytest.raises(WebSocketDisconnect) as e:
        with ws_client.websocket_connect("/test/ws", headers=auth(hs_token("carol", ["user"]))) as ws:
            ws.receive_json()
    assert e.value.code == 1008 and "training:read" in e.value.reason


def test_expired_header_token_is_refused(ws_client):
    with pytest.raises(WebSocketDisconnect) as e:
        with ws_client.websocket_connect("/test/ws", headers=auth(hs_token(exp_in=-120))) as ws:
            ws.receive_json()
    assert e.value.code == 1008 and "expired" in e.value.reason


def test_route_without_permission_never_opens(ws_client):
    with pytest.raises((WebSocketDisconnect, RuntimeError)):
        with ws_client.websocket_connect("/test/open-ws", headers=auth(hs_token(roles=["admin"]))) as ws:
            ws.receive_json()


def test_ws_denials_are_audited(ws_client):
    with pytest.raises(WebSocketDisconnect):
        with ws_client.websocket_connect("/test/ws", headers=auth(hs_token("carol", ["user"]))) as ws:
            ws.receive_json()
    rows = ws_client.get("/api/audit", headers=auth(hs_token("aud", ["auditor"]))).json()["items"]
    assert any(r["actor"] == "carol" and r["result"] == "denied" and r["resource"] == "/test/ws" for r in rows)


def test_silent_client_is_closed_after_the_auth_timeout(make_client):
    from sec_helpers import SECRET

    client = _with_ws_routes(make_client(mode="dev", jwt_secret=SECRET, ws_auth_timeout_seconds=0.2))
    with client.websocket_connect("/test/ws") as ws:
        with pytest.raises(WebSocketDisconnect) as e:
            ws.receive_json()
    assert e.value.code == 1008 and "auth" in e.value.reason
