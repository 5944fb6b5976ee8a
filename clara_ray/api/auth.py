"""Who is calling and what they may do: the role table, token authentication and the `require(permission)` dependency.

Every route declares its permission through `require` (public ones `require(PUBLIC)`), so the route x role matrix is
defined in one place. Modes (settings.security.mode): off = anonymous admin (local development only); dev = HS256
secret; production = RS256 via JWKS; strict = production + HTTPS only + rate limits on every route. In every secured
mode a bearer token starting `clara_sk_` is a long-lived API key (clara_ray.security.api_keys), not a JWT.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from anyio import to_thread
from fastapi import Depends, WebSocketException
from starlette.requests import HTTPConnection
from starlette.status import WS_1008_POLICY_VIOLATION

from clara_ray.security.api_keys import ApiKeyRejected, KeyStoreUnavailable, looks_like_key
from clara_ray.security.errors import AuthenticationFailed, AuthUnavailable, RateLimited
from clara_ray.security.runtime import SecurityRuntime, client_ip, route_template, runtime_for
from clara_ray.security.tokens import roles_from_claims

log = logging.getLogger("clara.auth")

ROLE_PERMISSIONS: dict[str, set[str]] = {
    "admin": {"*"},
    "trainer": {"training:create", "training:read", "training:cancel", "learning:trigger", "datasets:create",
                "datasets:read", "datasets:export", "adapters:activate", "adapters:read"},
    "analyst": {"datasets:read", "datasets:search", "training:read", "adapters:read"},
    "user": {"serving:generate", "adapters:read"},
    "auditor": {"training:read", "datasets:read", "adapters:read", "audit:read", "metrics:read", "completions:read"},
}
PUBLIC = "public"
AUTHENTICATED = "authenticated"  # any valid token, whatever its roles (e.g. GET /api/me)


@dataclass
class Principal:
    subject: str
    roles: set[str] = field(default_factory=set)
    name: str | None = None  # display name (Keycloak preferred_username); audit and jobs use `subject`

    @property
    def permissions(self) -> set[str]:
        """Everything the roles grant ("*" = all)."""
        return set().union(*(ROLE_PERMISSIONS.get(r, set()) for r in self.roles)) if self.roles else set()

    def can(self, permission: str) -> bool:
        if permission in (PUBLIC, AUTHENTICATED):
            return True
        granted = self.permissions
        return "*" in granted or permission in granted


ANONYMOUS_ADMIN = Principal("anonymous", {"admin"})
ANONYMOUS = Principal("anonymous")


class PermissionDenied(Exception):
    def __init__(self, permission: str):
        super().__init__(f"missing permission: {permission}")
        self.permission = permission


_DENIALS = (AuthenticationFailed, AuthUnavailable, RateLimited, PermissionDenied)


def require(permission: str):
    """FastAPI dependency (HTTP and WebSocket): the caller's Principal, after auth, `permission`, then rate limit."""

    async def dependency(conn: HTTPConnection) -> Principal:
        conn.state.permission = permission  # read by the audit middleware
        try:
            rt = runtime_for(conn.app)
            principal = await _principal(conn, rt, permission)
            conn.state.principal = principal
            if not principal.can(permission):  # before the limit: a denied call is a 403 and spends no budget
                raise PermissionDenied(permission)
            if rt is not None and rt.limiter is not None:
                who = f"ip:{client_ip(conn.scope, rt.cfg.trust_proxy_headers)}" if principal is ANONYMOUS \
                    else principal.subject
                rt.limiter.check(who=who, permission=permission, method=conn.scope.get("method", "WS"),
                                 route=route_template(conn.scope))
        except _DENIALS as e:
            conn.state.denial = getattr(e, "reason", None) or str(e)
            if conn.scope["type"] == "websocket":
                raise WebSocketException(WS_1008_POLICY_VIOLATION, conn.state.denial[:120]) from None
            raise
        return principal

    dependency.permission = permission  # read by tests that enumerate routes
    return Depends(dependency)


async def _principal(conn: HTTPConnection, rt: SecurityRuntime | None, permission: str) -> Principal:
    if rt is None:
        raise AuthUnavailable("security is not configured")
    if not rt.cfg.secured:
        return ANONYMOUS_ADMIN
    if permission == PUBLIC:
        return ANONYMOUS
    try:
        return await authenticate(conn, rt)
    except AuthenticationFailed:
        if rt.limiter is not None:
            rt.limiter.auth_failed(client_ip(conn.scope, rt.cfg.trust_proxy_headers))
        raise


def bearer_token(conn: HTTPConnection) -> str | None:
    """`Authorization: Bearer <token>`; for WebSockets also the token of the first message (see the middleware)."""
    scheme, _, token = (conn.headers.get("authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return conn.scope.get("state", {}).get("ws_token")


async def authenticate(conn: HTTPConnection, rt: SecurityRuntime | None = None) -> Principal:
    """Verify the caller's bearer token (JWT or API key); raises AuthenticationFailed (401) when missing or invalid."""
    rt = rt or runtime_for(conn.app)
    if rt is None:
        raise AuthUnavailable("security is not configured")
    if not rt.cfg.secured:
        return ANONYMOUS_ADMIN
    token = bearer_token(conn)
    if not token:
        raise AuthenticationFailed("bearer token required", error=None)
    if looks_like_key(token):
        return await _key_principal(rt, token)
    claims = await rt.verifier.verify(token)
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise AuthenticationFailed("token lacks the 'sub' claim")
    name = claims.get("preferred_username")
    return Principal(sub, roles_from_claims(claims, rt.cfg.client_id), name=name if isinstance(name, str) else None)


async def _key_principal(rt: SecurityRuntime, key: str) -> Principal:
    """An API key's principal: subject `key:<id>` (rate limits, audit actor), its roles, its name as display name."""
    if not rt.cfg.api_keys_enabled:
        raise AuthenticationFailed("API keys are disabled on this server")
    try:
        identity = await to_thread.run_sync(rt.api_keys.verify, key)
    except ApiKeyRejected as e:
        raise AuthenticationFailed(e.reason) from None
    except KeyStoreUnavailable as e:
        raise AuthUnavailable(str(e)) from None
    if identity is None:
        raise AuthenticationFailed("invalid API key")
    return Principal(identity.subject, set(identity.roles), name=identity.name)


def warn_if_open(mode: str) -> None:
    if mode == "off":
        log.warning("!" * 72 + "\nSECURITY MODE 'off': no authentication, every request is treated as admin.\n"
                    "Use only for local development; set security.mode to dev, production or strict.\n" + "!" * 72)
