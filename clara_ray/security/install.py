"""`install_security(app, settings)`: security middleware, error handlers, audit and API-key routes for build_app."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from clara_ray.security import audit_routes, key_routes
from clara_ray.security.errors import AuthenticationFailed, AuthUnavailable, HttpsRequired, RateLimited
from clara_ray.security.middleware import SecurityMiddleware
from clara_ray.security.settings import security_config_of
from clara_ray.wire_errors import error_body

log = logging.getLogger("clara.security")

_ERRORS = {AuthenticationFailed: "Unauthorized", AuthUnavailable: "AuthUnavailable", RateLimited: "RateLimited",
           HttpsRequired: "HttpsRequired"}


def install_security(app: FastAPI, settings=None) -> None:
    """Call once in build_app. Settings are read per request from app.state.settings (Serve attaches them later)."""
    if getattr(app.state, "security_installed", False):
        return
    app.state.security_installed = True
    app.add_middleware(SecurityMiddleware)
    for exc_type, name in _ERRORS.items():
        async def handler(request: Request, exc: Exception, name: str = name) -> JSONResponse:
            return JSONResponse(error_body(request.url.path, exc.status_code, name, exc.reason),
                                status_code=exc.status_code, headers=exc.headers)

        app.add_exception_handler(exc_type, handler)
    app.include_router(audit_routes.router)
    app.include_router(key_routes.router)
    key_routes.install_error_handlers(app)
    if settings is not None:
        cfg = security_config_of(settings)  # validates early: a bad security section fails at start
        log.info("security mode %s (rate limits %s, audit %s)", cfg.mode,
                 "on" if cfg.secured and cfg.rate_limit.enabled else "off",
                 "on" if cfg.secured and cfg.audit.enabled else "off")
