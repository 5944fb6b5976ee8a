"""Console test fixtures: apps in each security mode, with small fake backends where a view needs data."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "security"))  # sec_helpers: keys, tokens

from sec_helpers import SECRET  # noqa: E402


@pytest.fixture
def build(settings):
    """build(mode=..., backends=..., **security) -> the real FastAPI app."""
    from clara_ray.api.app import build_app
    from clara_ray.security.settings import SecurityConfig

    def make(backends: dict | None = None, console: dict | None = None, **security):
        s = settings.model_copy(update={"security": SecurityConfig(**security),
                                        **({"console": settings.console.model_copy(update=console)} if console else {})})
        return build_app(s, **(backends or {}))

    return make


@pytest.fixture
def dev_security() -> dict:
    return {"mode": "dev", "jwt_secret": SECRET}
