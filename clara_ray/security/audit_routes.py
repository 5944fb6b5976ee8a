"""`GET /api/audit`: read the audit log (permission audit:read), newest first, filtered and paginated."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from clara_ray.api.auth import Principal, require
from clara_ray.security.runtime import runtime_for

router = APIRouter(prefix="/api/audit", tags=["security"])


@router.get("")
async def list_audit_events(
    request: Request,
    who: Annotated[Principal, require("audit:read")],
    actor: str | None = None,
    action: str | None = None,
    result: Literal["success", "failed", "denied", "rate_limited"] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,  # bounded: SQL takes int64 (a larger one was a 500)
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict:
    """Who did what to which resource, with which result; writes and denied requests (modes dev/production/strict)."""
    rt = runtime_for(request.app)
    if rt is None or rt.audit is None:
        return {"items": [], "total": 0, "offset": offset, "limit": limit, "enabled": False}
    limit = min(limit, request.app.state.settings.api.max_page_size)
    page = await run_in_threadpool(rt.audit.query, actor=actor, action=action, result=result, since=since,
                                   until=until, offset=offset, limit=limit)
    return {**page, "enabled": True}
