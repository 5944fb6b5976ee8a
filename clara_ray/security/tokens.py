"""JWT verification with PyJWT: HS256 shared secret (dev) or RS256/JWKS (production, strict); Keycloak role claims."""

from __future__ import annotations

import jwt
from jwt import exceptions as jx

from clara_ray.security.errors import AuthenticationFailed
from clara_ray.security.jwks import JwksCache
from clara_ray.security.settings import SecurityConfig

# Most specific first: several of these subclass each other.
_REASONS: list[tuple[type[Exception], str]] = [
    (jx.ExpiredSignatureError, "token expired"),
    (jx.ImmatureSignatureError, "token not yet valid"),
    (jx.InvalidIssuerError, "invalid issuer"),
    (jx.InvalidAudienceError, "invalid audience"),
    (jx.InvalidIssuedAtError, "invalid issued-at time"),
    (jx.InvalidSignatureError, "invalid signature"),
    (jx.InvalidAlgorithmError, "unsupported token algorithm"),
    (jx.DecodeError, "malformed token"),
]


def _reason(e: Exception) -> str:
    if isinstance(e, jx.MissingRequiredClaimError):
        return f"token lacks the '{e.claim}' claim"
    return next((text for cls, text in _REASONS if isinstance(e, cls)), "invalid token")


class TokenVerifier:
    """Verifies a bearer token for the configured mode and returns its claims; raises AuthenticationFailed."""

    def __init__(self, cfg: SecurityConfig):
        self.cfg = cfg
        self.jwks: JwksCache | None = None
        if cfg.mode in ("production", "strict"):
            self.jwks = JwksCache(cfg.effective_jwks_url, ttl=cfg.jwks_cache_seconds,
                                  min_refetch=cfg.jwks_min_refetch_seconds, timeout=cfg.jwks_timeout_seconds,
                                  algorithms=cfg.algorithms)

    async def verify(self, token: str) -> dict:
        try:
            header = jwt.get_unverified_header(token)
        except jx.PyJWTError:
            raise AuthenticationFailed("malformed token") from None
        algorithms = ["HS256"] if self.jwks is None else list(self.cfg.algorithms)
        if header.get("alg") not in algorithms:  # rejects "none", and HS256 where RS256 is expected
            raise AuthenticationFailed("unsupported token algorithm")
        if self.jwks is None:
            keys = [self.cfg.jwt_secret, *self.cfg.jwt_previous_secrets]
        else:
            kid = header.get("kid")
            keys = [await self.jwks.key_for(kid if isinstance(kid, str) else None)]
        required = ["exp", "sub"] + (["iss"] if self.cfg.issuer else []) + (["aud"] if self.cfg.audience else [])
        for i, key in enumerate(keys):
            try:
                return jwt.decode(token, key, algorithms=algorithms, audience=self.cfg.audience or None,
                                  issuer=self.cfg.issuer or None, leeway=self.cfg.leeway_seconds,
                                  options={"require": required, "verify_aud": bool(self.cfg.audience)})
            except jx.InvalidSignatureError as e:
                if i == len(keys) - 1:  # try older secrets during a rotation
                    raise AuthenticationFailed(_reason(e)) from None
            except (jx.PyJWTError, ValueError, TypeError) as e:
                raise AuthenticationFailed(_reason(e)) from None
        raise AuthenticationFailed("invalid token")


def _names(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def roles_from_claims(claims: dict, client_id: str) -> set[str]:
    """Keycloak roles: `realm_access.roles` plus `resource_access.<client_id>.roles`."""
    realm = claims.get("realm_access")
    roles = set(_names(realm.get("roles"))) if isinstance(realm, dict) else set()
    resource = claims.get("resource_access")
    client = resource.get(client_id) if isinstance(resource, dict) else None
    if isinstance(client, dict):
        roles |= set(_names(client.get("roles")))
    return roles
