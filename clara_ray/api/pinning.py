"""Serving a version that is not servable by default: the X-Clara-Allow-Inactive header, honoured for admins only."""

from __future__ import annotations

from starlette.requests import Request

from clara_ray.api.auth import PermissionDenied, Principal

PIN_HEADER = "X-Clara-Allow-Inactive"
PIN_PERMISSION = "adapters:activate"
_TRUE = {"true", "1", "yes"}


def allow_inactive(request: Request, who: Principal) -> bool:
    """True when the request pins a rejected or archived version explicitly (`X-Clara-Allow-Inactive: true`).

    Only callers holding `adapters:activate` may (403 naming the permission otherwise): an admin can compare a
    retired version with the active one; everybody else gets 409 with the version's status and reason."""
    if (request.headers.get(PIN_HEADER) or "").strip().lower() not in _TRUE:
        return False
    if not who.can(PIN_PERMISSION):
        raise PermissionDenied(PIN_PERMISSION)
    return True
