"""FastAPI application factory: every route module, wired to the backends (job manager, serving, ...) it is given."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from clara_ray.api import (completion_routes, dataset_routes, learning_routes, me_routes, openai_routes,
                           recipe_routes, serving_routes, training_routes)
from clara_ray.api.auth import PUBLIC, require, warn_if_open
from clara_ray.api.errors import install_error_handlers
from clara_ray.config import ClaraSettings
from clara_ray.console import routes as console_routes
from clara_ray.security.install import install_security
from clara_ray.serving.service import Call

BACKENDS = ("jobs", "serving", "datasets", "learning", "completions", "recipes")


def build_app(settings: ClaraSettings, **backends) -> FastAPI:
    """All routes. `backends`: jobs (job manager), serving (ServingService), datasets, learning, completions
    (CompletionLog), recipes (AliasRecipes)."""
    unknown = set(backends) - set(BACKENDS)
    if unknown:
        raise TypeError(f"unknown backends {sorted(unknown)}")
    app = FastAPI(title="CLARA on Ray", version="0.1.0",
                  description="Train, serve and continuously improve LoRA adapters on Ray.")
    app.state.settings = settings
    for name in BACKENDS:
        setattr(app.state, name, backends.get(name))
    warn_if_open(settings.security.mode)
    install_error_handlers(app)
    install_security(app, settings)  # auth modes, audit, rate limits, HTTPS-only, GET /api/audit
    for module in (training_routes, recipe_routes, serving_routes, openai_routes, learning_routes, completion_routes,
                   dataset_routes, me_routes, console_routes):
        app.include_router(module.router)

    @app.get("/health", tags=["ops"], dependencies=[require(PUBLIC)])
    async def health() -> dict:
        """Liveness: the API process answers."""
        return {"status": "ok"}

    @app.get("/ready", tags=["ops"], dependencies=[require(PUBLIC)])
    async def ready(request: Request):
        """Readiness: answers 200 only when the model replicas generate a token."""
        serving = request.app.state.serving
        if serving is None:
            return JSONResponse({"status": "not ready", "reason": "no serving backend"}, status_code=503)
        try:
            probe = Call(completion_id="ready", route="ready", logged=False)  # not a completion anyone asked for
            await asyncio.wait_for(serving.generate("ready?", "base", call=probe, max_tokens=1), timeout=30)
        except Exception as e:  # noqa: BLE001 - any failure means not ready
            return JSONResponse({"status": "not ready", "reason": type(e).__name__}, status_code=503)
        return {"status": "ready"}

    return app
