"""`GET /api/me`: who the caller is and what they may do (the console hides controls from it; the API enforces)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request

from clara_ray.api.auth import AUTHENTICATED, Principal, require

router = APIRouter(prefix="/api", tags=["auth"])


@router.get("/me")
async def me(request: Request, who: Annotated[Principal, require(AUTHENTICATED)]) -> dict:
    """Subject, roles and permissions of the bearer token (any valid token; everyone is admin in mode off)."""
    return {"subject": who.subject, "name": who.name or who.subject, "roles": sorted(who.roles),
            "permissions": sorted(who.permissions), "mode": request.app.state.settings.security.mode}
