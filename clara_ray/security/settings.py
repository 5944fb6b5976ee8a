"""Security settings (`security:` in configs/clara.yaml, env CLARA_SECURITY__*): modes, JWT, API keys, limits, audit."""

from __future__ import annotations

import ipaddress
from typing import Literal
from urllib.parse import urlparse

from pydantic import Field, field_validator, model_validator

from clara_ray.settings_section import Section

SecurityMode = Literal["off", "dev", "production", "strict"]


class RateLimitSettings(Section):
    enabled: bool = True
    """Apply rate limits in modes dev, production and strict (never in mode off)."""
    storage_uri: str = "memory://"
    """`limits` storage: memory:// is per API replica; redis://host:6379 shares counters across replicas."""
    limits: dict[str, str] = {"training:create": "5/minute", "learning:trigger": "5/minute"}
    """Per user (per IP without one). Key: a permission ("training:create") or "METHOD /path/{param}"; each key is
    its own bucket (job creation and retry share `training:create`, a learning-cycle trigger spends
    `learning:trigger`). Setting this replaces the whole table."""
    default: str = "120/minute"
    """Strict mode: limit for every route that has no entry in `limits` (public routes included)."""
    auth_failures: str = "30/minute"
    """Strict mode: failed authentications per client IP before answering 429."""

    @field_validator("limits")
    @classmethod
    def _check_limits(cls, v: dict[str, str]) -> dict[str, str]:
        for value in v.values():
            _parse_limit(value)
        return v

    @field_validator("default", "auth_failures")
    @classmethod
    def _check_limit(cls, v: str) -> str:
        _parse_limit(v)
        return v


def _parse_limit(value: str) -> None:
    from limits import parse_many

    try:
        parse_many(value)
    except ValueError:
        raise ValueError(f"invalid rate limit {value!r} (expected e.g. '5/minute' or '100 per hour')") from None


class AuditSettings(Section):
    enabled: bool = True
    """Write the audit log (modes dev, production, strict): every write request and every denied request."""
    include_reads: bool = False
    """Also record successful reads (GET); noisy, off by default."""


class SecurityConfig(Section):
    mode: SecurityMode = "off"
    """off: no auth (local development only); dev: HS256 secret; production: RS256 via JWKS;
    strict: production + HTTPS only + rate limits on every route."""
    jwt_secret: str = Field("", repr=False)
    """Mode dev: HS256 shared secret (at least 32 characters). Set via CLARA_SECURITY__JWT_SECRET."""
    jwt_previous_secrets: list[str] = Field(default_factory=list, repr=False)
    """Mode dev: older secrets still accepted while tokens signed with them expire (rotation)."""
    issuer: str = ""
    """Expected `iss`, e.g. https://kc.example.com/realms/clara (required in production/strict, optional in dev)."""
    audience: str = ""
    """Expected `aud` (required in production/strict; optional in dev). Keycloak: add an audience mapper."""
    client_id: str = "clara"
    """Keycloak client whose `resource_access.<client_id>.roles` count besides `realm_access.roles`."""
    jwks_url: str = ""
    """JWKS endpoint; default `{issuer}/protocol/openid-connect/certs` (Keycloak)."""
    algorithms: list[Literal["RS256", "RS384", "RS512", "PS256", "ES256"]] = ["RS256"]
    """Accepted asymmetric algorithms in production/strict."""
    jwks_cache_seconds: float = Field(300, gt=0)
    """Keys are refetched after this long; an unknown `kid` refetches earlier (see jwks_min_refetch_seconds)."""
    jwks_min_refetch_seconds: float = Field(10, ge=0)
    """At most one refetch per this interval for unknown `kid`s (stops random-kid floods hitting the IdP)."""
    jwks_timeout_seconds: float = Field(5, gt=0)
    """HTTP timeout of a JWKS fetch."""
    leeway_seconds: float = Field(30, ge=0, le=300)
    """Clock skew tolerated on exp/nbf/iat."""
    https_exempt_paths: list[str] = ["/health", "/ready"]
    """Strict mode: paths answered over plain HTTP too (in-cluster liveness/readiness probes)."""
    trust_proxy_headers: bool = False
    """Believe X-Forwarded-Proto / X-Forwarded-For (only behind a TLS-terminating proxy you control)."""
    ws_auth_timeout_seconds: float = Field(10, gt=0)
    """WebSocket without an Authorization header: seconds to wait for the first message {"type": "auth", ...}."""
    api_keys_enabled: bool = True
    """Accept long-lived API keys (`Authorization: Bearer clara_sk_...`, made with POST /api/keys) next to JWTs."""
    rate_limit: RateLimitSettings = RateLimitSettings()
    audit: AuditSettings = AuditSettings()

    @model_validator(mode="after")
    def _check_mode(self) -> "SecurityConfig":
        if self.mode == "dev" and len(self.jwt_secret) < 32:
            raise ValueError("mode 'dev' needs jwt_secret of at least 32 characters (CLARA_SECURITY__JWT_SECRET)")
        if self.mode in ("production", "strict"):
            missing = [f for f in ("issuer", "audience") if not getattr(self, f)]
            if missing:
                raise ValueError(f"mode {self.mode!r} needs {' and '.join(missing)}")
            if self.mode == "strict" and not _is_https_or_loopback(self.effective_jwks_url):
                raise ValueError("mode 'strict' needs an https:// jwks_url (or issuer)")
        return self

    @property
    def effective_jwks_url(self) -> str:
        return self.jwks_url or (f"{self.issuer.rstrip('/')}/protocol/openid-connect/certs" if self.issuer else "")

    @property
    def secured(self) -> bool:
        return self.mode != "off"


def _is_https_or_loopback(url: str) -> bool:
    u = urlparse(url)
    if u.scheme == "https":
        return True
    try:
        return u.scheme == "http" and (u.hostname == "localhost" or ipaddress.ip_address(u.hostname or "").is_loopback)
    except ValueError:
        return False


def security_config_of(settings) -> SecurityConfig:
    """The SecurityConfig of a ClaraSettings, also while config.py still has its mode-only SecuritySettings."""
    sec = getattr(settings, "security", None)
    if isinstance(sec, SecurityConfig):
        return sec
    if sec is None:
        return SecurityConfig()
    return SecurityConfig.model_validate(sec.model_dump() if hasattr(sec, "model_dump") else dict(sec))
