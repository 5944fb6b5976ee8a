"""FastAPI application factory: wires backends (job manager, later serving/learning/datasets) into the routes."""

from __future__ import annotations

from fastapi import FastAPI

from clara_ray.api import training_routes
from clara_ray.api.auth import PUBLIC, require, warn_if_open
from clara_ray.api.errors import install_error_handlers
from clara_ray.config import ClaraSettings


def build_app(settings: ClaraSettings | None = None, *, jobs=None) -> FastAPI:
    """All routes; backends may be attached later (Serve builds the app at import, wires it in __init__)."""
    app = FastAPI(title="CLARA on Ray", version="0.1.0",
                  description="Train, serve and continuously improve LoRA adapters on Ray.")
    if settings is not None:
        attach(app, settings, jobs=jobs)
    install_error_handlers(app)
    app.include_router(training_routes.router)

    @app.get("/health", tags=["ops"], dependencies=[require(PUBLIC)])
    async def health() -> dict:
        """Liveness: the API process answers."""
        return {"status": "ok"}

    return app


def attach(app: FastAPI, settings: ClaraSettings, *, jobs) -> None:
    app.state.settings = settings
    app.state.jobs = jobs
    warn_if_open(settings.security.mode)
