"""Per-app security state (config, token verifier, API keys, rate limiter, audit log), built lazily from settings."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import Scope

from clara_ray.security.api_keys import ApiKeyStore
from clara_ray.security.audit import AuditLog
from clara_ray.security.ratelimit import RateLimiter
from clara_ray.security.settings import SecurityConfig, security_config_of
from clara_ray.security.tokens import TokenVerifier


@dataclass
class SecurityRuntime:
    settings: object  # the ClaraSettings this was built from
    cfg: SecurityConfig
    verifier: TokenVerifier | None
    limiter: RateLimiter | None
    audit: AuditLog | None
    api_keys: ApiKeyStore  # opens its database on first use; management works in every mode


def build_runtime(settings) -> SecurityRuntime:
    cfg = security_config_of(settings)
    on = cfg.secured
    return SecurityRuntime(
        settings=settings, cfg=cfg,
        verifier=TokenVerifier(cfg) if on else None,
        limiter=RateLimiter(cfg.rate_limit, strict=cfg.mode == "strict") if on and cfg.rate_limit.enabled else None,
        audit=AuditLog(settings.storage.database_url) if on and cfg.audit.enabled else None,
        api_keys=ApiKeyStore(settings.storage.database_url),
    )


def runtime_for(app) -> SecurityRuntime | None:
    """None while the app has no settings attached (Serve builds the app before wiring it)."""
    settings = getattr(app.state, "settings", None)
    if settings is None:
        return None
    rt = getattr(app.state, "security_runtime", None)
    if rt is None or rt.settings is not settings:
        rt = build_runtime(settings)
        app.state.security_runtime = rt
    return rt


def header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers") or []:
        if k.lower() == name:
            return v.decode("latin-1")
    return None


def client_ip(scope: Scope, trust_proxy_headers: bool) -> str:
    if trust_proxy_headers and (fwd := header(scope, b"x-forwarded-for")):
        return fwd.split(",")[0].strip()
    client = scope.get("client")
    return client[0] if client else "unknown"


def is_https(scope: Scope, trust_proxy_headers: bool) -> bool:
    if trust_proxy_headers and (proto := header(scope, b"x-forwarded-proto")):
        return proto.split(",")[0].strip().lower() in ("https", "wss")
    return scope.get("scheme") in ("https", "wss")


def route_template(scope: Scope) -> str:
    """The matched route's path template (e.g. /api/training/jobs/{job_id}); rebuilt from path params otherwise."""
    route_path = getattr(scope.get("route"), "path", None)
    if isinstance(route_path, str):
        return route_path
    path = scope.get("path", "")
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):] or "/"
    names = {str(v): k for k, v in (scope.get("path_params") or {}).items()}
    return "/".join("{%s}" % names.pop(seg) if seg in names else seg for seg in path.split("/"))


def declared_permissions(route) -> list[str]:
    """Permissions a route declares through require(...), found in its dependency tree ([] = none declared)."""
    found: list[str] = []
    stack = list(getattr(getattr(route, "dependant", None), "dependencies", None) or [])
    while stack:
        dep = stack.pop()
        perm = getattr(dep.call, "permission", None)
        if isinstance(perm, str):
            found.append(perm)
        stack.extend(dep.dependencies or [])
    return found
