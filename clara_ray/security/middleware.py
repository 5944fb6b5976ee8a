"""ASGI middleware: HTTPS only (strict), WebSocket first-message auth, fail-closed routes, audit of writes/denials."""

from __future__ import annotations

import asyncio
import json
import logging

from anyio import to_thread
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clara_ray.security.audit import result_of
from clara_ray.wire_errors import error_body
from clara_ray.security.runtime import (SecurityRuntime, client_ip, declared_permissions, header, is_https,
                                       route_template, runtime_for)

log = logging.getLogger("clara.security")

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
WS_POLICY_VIOLATION = 1008


class SecurityMiddleware:
    """Does nothing in mode off; otherwise wraps every HTTP request and WebSocket session."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rt = runtime_for(scope["app"]) if scope["type"] in ("http", "websocket") and "app" in scope else None
        if rt is None or not rt.cfg.secured:
            return await self.app(scope, receive, send)
        state = scope.setdefault("state", {})
        handler = self._http if scope["type"] == "http" else self._websocket
        await handler(rt, scope, receive, send, state)

    def _https_refused(self, rt: SecurityRuntime, scope: Scope) -> bool:
        return (rt.cfg.mode == "strict" and scope.get("path") not in rt.cfg.https_exempt_paths
                and not is_https(scope, rt.cfg.trust_proxy_headers))

    async def _http(self, rt: SecurityRuntime, scope: Scope, receive: Receive, send: Send, state: dict) -> None:
        if self._https_refused(rt, scope):
            state["denial"] = "this API accepts HTTPS only"
            await _send_json(send, 403, error_body(scope["path"], 403, "HttpsRequired", state["denial"]))
            return await self._audit(rt, scope, state, 403)
        status, blocked = 500, False
        hsts = rt.cfg.mode == "strict"

        async def guarded_send(message: Message) -> None:
            nonlocal status, blocked
            if message["type"] == "http.response.start":
                status = message["status"]
                if _undeclared(scope, state):  # fail closed: a route without require(...) never answers
                    log.error("route %s declares no permission; refusing it", route_template(scope))
                    blocked, status = True, 403
                    state["denial"] = "route declares no permission"
                    return await _send_json(send, 403, error_body(scope["path"], 403, "PermissionDenied",
                                                                  state["denial"]))
                if hsts:
                    message = {**message, "headers": [*message.get("headers", []), HSTS]}
            if not blocked:
                await send(message)

        try:
            await self.app(scope, receive, guarded_send)
        finally:
            await self._audit(rt, scope, state, status)

    async def _websocket(self, rt: SecurityRuntime, scope: Scope, receive: Receive, send: Send, state: dict) -> None:
        replay: Message | None = None
        if self._https_refused(rt, scope):
            state["denial"] = "this API accepts HTTPS only"
        elif not header(scope, b"authorization"):
            # Browsers cannot set headers on WebSockets: accept, then expect {"type": "auth", "token": "..."}.
            replay = await receive()
            if replay["type"] != "websocket.connect":
                return
            await send({"type": "websocket.accept"})
            token = await _first_message_token(receive, rt.cfg.ws_auth_timeout_seconds)
            if token is None:
                state["denial"] = 'authentication required: send {"type": "auth", "token": "<jwt>"} first'
            else:
                state["ws_token"] = token  # read by require(); never logged
        if state.get("denial"):
            if replay is None:
                await receive()  # the handshake's websocket.connect
            await _close(send, state["denial"])
            return await self._audit(rt, scope, state, 403)
        accepted = replay is not None

        async def replaying_receive() -> Message:
            nonlocal replay
            if replay is not None:
                message, replay = replay, None
                return message
            return await receive()

        async def guarded_send(message: Message) -> None:
            if message["type"] == "websocket.accept":
                if _undeclared(scope, state):
                    log.error("WebSocket route %s declares no permission; refusing it", route_template(scope))
                    state["denial"] = "route declares no permission"
                    await _close(send, state["denial"])
                    await self._audit(rt, scope, state, 403)
                    raise RuntimeError("WebSocket route declares no permission (add require(...))")
                if accepted:
                    return  # already accepted for the first-message handshake
            elif message["type"] == "websocket.close" and state.get("denial"):
                await self._audit(rt, scope, state, 403)
            await send(message)

        await self.app(scope, replaying_receive, guarded_send)

    async def _audit(self, rt: SecurityRuntime, scope: Scope, state: dict, status: int) -> None:
        if rt.audit is None:
            return
        method = scope.get("method", "WEBSOCKET")
        if not (method not in SAFE_METHODS or status in (401, 403, 429) or state.get("denial")
                or rt.cfg.audit.include_reads):
            return
        principal = state.get("principal")
        route = route_template(scope)
        detail = {"method": method, "route": route, "status": status}
        if state.get("denial"):
            detail["reason"] = state["denial"]
        if getattr(principal, "name", None):
            detail["name"] = principal.name
        action = state.get("permission") or _first(declared_permissions(scope.get("route"))) or f"{method} {route}"
        event = dict(actor=getattr(principal, "subject", None) or "anonymous", action=action,
                     resource=scope.get("path"), result=result_of(status), detail=detail,
                     ip=client_ip(scope, rt.cfg.trust_proxy_headers))
        await to_thread.run_sync(lambda: rt.audit.write(**event))


def _undeclared(scope: Scope, state: dict) -> bool:
    route = scope.get("route")
    return isinstance(route, (APIRoute, APIWebSocketRoute)) and not declared_permissions(route)


def _first(items: list[str]) -> str | None:
    return items[0] if items else None


async def _send_json(send: Send, status: int, body: dict) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


async def _close(send: Send, reason: str) -> None:
    try:
        await send({"type": "websocket.close", "code": WS_POLICY_VIOLATION, "reason": reason[:120]})
    except Exception:  # noqa: BLE001 - the client is already gone
        pass


async def _first_message_token(receive: Receive, timeout: float) -> str | None:
    try:
        message = await asyncio.wait_for(receive(), timeout)
    except asyncio.TimeoutError:
        return None
    if message["type"] != "websocket.receive":
        return None
    try:
        data = json.loads(message.get("text") or (message.get("bytes") or b"").decode())
    except (ValueError, UnicodeDecodeError):
        return None
    token = data.get("token") if isinstance(data, dict) and data.get("type") == "auth" else None
    return token if isinstance(token, str) and token else None
