"""Serves the console's files, its public login settings (`/console/config.json`) and a `/` redirect to it.

The files hold no data: every view fetches through the API with the user's token, so they are public, like a
login page. A strict Content-Security-Policy keeps the page to its own origin (plus the OIDC token endpoint).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse

from clara_ray.api.auth import PUBLIC, require
from clara_ray.config import ClaraSettings

STATIC = Path(__file__).parent / "static"
MEDIA_TYPES = {".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css",
               ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon"}

router = APIRouter(tags=["console"], include_in_schema=False)


def oidc_settings(settings: ClaraSettings) -> dict | None:
    """The browser's authorization-code + PKCE settings; None unless the API verifies IdP tokens (production)."""
    sec, con = settings.security, settings.console
    if sec.mode not in ("production", "strict"):
        return None
    issuer = sec.issuer.rstrip("/")
    return {
        "issuer": issuer,
        "client_id": con.oidc_client_id or sec.client_id,
        "authorization_endpoint": con.oidc_authorization_endpoint or f"{issuer}/protocol/openid-connect/auth",
        "token_endpoint": con.oidc_token_endpoint or f"{issuer}/protocol/openid-connect/token",
        "logout_endpoint": con.oidc_logout_endpoint or None,
        "scope": con.oidc_scope,
    }


def content_security_policy(settings: ClaraSettings) -> str:
    connect = ["'self'"]
    oidc = oidc_settings(settings)
    if oidc:  # the browser posts the code to the token endpoint itself
        u = urlparse(oidc["token_endpoint"])
        connect.append(f"{u.scheme}://{u.netloc}")
    return ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
            f"connect-src {' '.join(connect)}; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


def _file(path: Path, settings: ClaraSettings) -> FileResponse:
    headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    if path.suffix == ".html":
        headers |= {"Content-Security-Policy": content_security_policy(settings), "Referrer-Policy": "no-referrer"}
    return FileResponse(path, media_type=MEDIA_TYPES.get(path.suffix, "application/octet-stream"), headers=headers)


def _settings(request: Request) -> ClaraSettings:
    settings = request.app.state.settings
    if not settings.console.enabled:
        raise HTTPException(404, "the console is disabled (console.enabled)")
    return settings


@router.get("/", dependencies=[require(PUBLIC)])
@router.get("/console", dependencies=[require(PUBLIC)])
async def to_console(request: Request):
    _settings(request)
    return RedirectResponse("/console/")


@router.get("/console/config.json", dependencies=[require(PUBLIC)])
async def console_config(request: Request) -> dict:
    """What the login page needs: the security mode and, in production, the OIDC endpoints."""
    settings = _settings(request)
    mode = settings.security.mode
    return {"mode": mode, "token_login": mode == "dev", "oidc": oidc_settings(settings)}


@router.get("/console/{path:path}", dependencies=[require(PUBLIC)])
async def console_file(path: str, request: Request):
    """A console file; any other path is the app itself (its views live in the URL fragment)."""
    settings = _settings(request)
    target = (STATIC / path).resolve()
    if path and target.is_file() and target.is_relative_to(STATIC.resolve()):
        return _file(target, settings)
    if Path(path).suffix and path != "index.html":
        raise HTTPException(404, f"no console file {path!r}")
    return _file(STATIC / "index.html", settings)
