"""Who is calling and what they may do: the spec's role table and the one `require(permission)` dependency.

Every route declares its permission through `require`, so the route x role matrix is defined in one place.
Security mode "off" (local development only) treats every caller as an anonymous admin.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from fastapi import Depends, Request

log = logging.getLogger("clara.auth")

ROLE_PERMISSIONS: dict[str, set[str]] = {
    "admin": {"*"},
    "trainer": {"training:create", "training:read", "training:cancel", "datasets:create", "datasets:read",
                "datasets:export", "adapters:activate", "adapters:read"},
    "analyst": {"datasets:read", "datasets:search", "training:read", "adapters:read"},
    "user": {"serving:generate", "adapters:read"},
    "auditor": {"training:read", "datasets:read", "adapters:read", "audit:read", "metrics:read"},
}
PUBLIC = "public"


@dataclass
class Principal:
    subject: str
    roles: set[str] = field(default_factory=set)

    def can(self, permission: str) -> bool:
        if permission == PUBLIC:
            return True
        granted = set().union(*(ROLE_PERMISSIONS.get(r, set()) for r in self.roles)) if self.roles else set()
        return "*" in granted or permission in granted


ANONYMOUS_ADMIN = Principal("anonymous", {"admin"})


class PermissionDenied(Exception):
    def __init__(self, permission: str):
        super().__init__(f"missing permission: {permission}")
        self.permission = permission


def require(permission: str):
    """FastAPI dependency: the caller's Principal, after checking `permission`. Tagged for the route matrix."""

    async def dependency(request: Request) -> Principal:
        principal = await authenticate(request)
        if not principal.can(permission):
            raise PermissionDenied(permission)
        request.state.principal = principal
        return principal

    dependency.permission = permission  # read by tests that enumerate routes
    return Depends(dependency)


async def authenticate(request: Request) -> Principal:
    mode = request.app.state.settings.security.mode
    if mode == "off":
        return ANONYMOUS_ADMIN
    raise NotImplementedError(f"security mode {mode!r} is not available in this build")


def warn_if_open(mode: str) -> None:
    if mode == "off":
        log.warning("SECURITY MODE 'off': every request is treated as admin. Use only for local development.")
