"""`/api/keys`: an admin creates (shown once), lists and revokes long-lived API keys bound to roles (keys:admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from clara_ray.api.auth import ROLE_PERMISSIONS, Principal, require
from clara_ray.names import NameKind, check_name
from clara_ray.security.api_keys import ApiKeyNotFound, InvalidKeyRequest, KeyStoreUnavailable, key_view
from clara_ray.security.runtime import SecurityRuntime, runtime_for
from clara_ray.wire_errors import error_body

PERMISSION = "keys:admin"  # granted to admin only (through "*")

router = APIRouter(prefix="/api/keys", tags=["security"])


class CreateKeyBody(BaseModel):
    """POST /api/keys."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, AfterValidator(lambda v: check_name(v, NameKind.API_KEY))]
    """What the key is for (e.g. `ci-pipeline`); shown in listings and in the audit log's `detail.name`."""
    roles: list[str] = Field(min_length=1, max_length=16)
    """Roles the key acts with (admin, trainer, analyst, user, auditor)."""
    expires_in_days: int | None = Field(None, ge=1, le=3650, strict=True)
    """Days until the key stops working; null = never (revoke it instead)."""


class KeysUnavailable(Exception):
    """409: keys cannot be created in security mode off (they would outlive it) or with api_keys_enabled false."""


def _runtime(request: Request) -> SecurityRuntime:
    rt = runtime_for(request.app)
    if rt is None:  # require(...) answers 503 first; kept for the type checker
        raise KeysUnavailable("security is not configured on this API")
    return rt


@router.post("", status_code=201)
async def create_key(body: CreateKeyBody, request: Request,
                     who: Annotated[Principal, require(PERMISSION)]) -> dict:
    """A new key; the response is the only time `key` is ever shown (only its SHA-256 is stored)."""
    rt = _runtime(request)
    if not rt.cfg.secured:
        raise KeysUnavailable("API keys need security mode dev, production or strict; "
                              "a key made in mode off would outlive it")
    if not rt.cfg.api_keys_enabled:
        raise KeysUnavailable("API keys are disabled on this server (security.api_keys_enabled)")
    row, key = await run_in_threadpool(rt.api_keys.create, name=body.name, roles=body.roles,
                                       known_roles=ROLE_PERMISSIONS.keys(), expires_in_days=body.expires_in_days,
                                       created_by=who.subject)
    view = key_view(row)
    return {"id": view["id"], "name": view["name"], "roles": view["roles"], "prefix": view["prefix"], "key": key,
            "created_at": view["created_at"], "expires_at": view["expires_at"]}


@router.get("")
async def list_keys(request: Request, who: Annotated[Principal, require(PERMISSION)]) -> dict:
    """Every key, newest first, revoked and expired ones included; never the key itself."""
    rows = await run_in_threadpool(_runtime(request).api_keys.list)
    return {"items": [key_view(r) for r in rows]}


@router.delete("/{key_id}")
async def revoke_key(key_id: str, request: Request, who: Annotated[Principal, require(PERMISSION)]) -> dict:
    """Revoke a key: requests with it get 401 "API key revoked" from now on. Answers the revoked key's listing."""
    row = await run_in_threadpool(_runtime(request).api_keys.revoke, key_id)
    return key_view(row)


def install_error_handlers(app: FastAPI) -> None:
    """Key store errors as JSON: 422 (same shape as request validation, naming the field), 404, 409, 503."""

    async def invalid(request: Request, exc: InvalidKeyRequest) -> JSONResponse:
        return JSONResponse({"error": "ValidationError", "detail": [{"field": exc.field, "message": exc.message}]},
                            status_code=422)

    async def not_found(request: Request, exc: ApiKeyNotFound) -> JSONResponse:
        return JSONResponse({"error": "ApiKeyNotFound", "detail": str(exc)}, status_code=404)

    async def unavailable(request: Request, exc: KeysUnavailable) -> JSONResponse:
        return JSONResponse({"error": "ApiKeysUnavailable", "detail": str(exc)}, status_code=409)

    async def store_down(request: Request, exc: KeyStoreUnavailable) -> JSONResponse:
        return JSONResponse(error_body(request.url.path, 503, "StoreUnavailable", str(exc)), status_code=503,
                            headers={"Retry-After": "5"})

    app.add_exception_handler(InvalidKeyRequest, invalid)
    app.add_exception_handler(ApiKeyNotFound, not_found)
    app.add_exception_handler(KeysUnavailable, unavailable)
    app.add_exception_handler(KeyStoreUnavailable, store_down)
