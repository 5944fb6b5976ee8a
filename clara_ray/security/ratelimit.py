"""Per-user (per-IP without a user) rate limits on top of the `limits` library: moving windows, Retry-After."""

from __future__ import annotations

import logging
import math
import time

from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from clara_ray.security.errors import RateLimited
from clara_ray.security.settings import RateLimitSettings

log = logging.getLogger("clara.security.ratelimit")


class RateLimiter:
    """Buckets are config keys: a permission ("training:create") or "METHOD /path/{param}"; route keys win.

    Each key counts on its own: two permissions never share a budget. `require` checks the permission first, so
    only authorised calls reach `check` and spend budget."""

    def __init__(self, cfg: RateLimitSettings, *, strict: bool):
        self._limiter = MovingWindowRateLimiter(storage_from_string(cfg.storage_uri))
        self._limits = {key: parse_many(value) for key, value in cfg.limits.items()}
        self._default = parse_many(cfg.default) if strict else []
        self._auth_failures = parse_many(cfg.auth_failures) if strict else []

    def check(self, *, who: str, permission: str, method: str, route: str) -> None:
        """Count one request of `who`; raises RateLimited when a limit of its bucket is exhausted."""
        route_key = f"{method} {route}"
        for bucket in (route_key, permission):
            if bucket in self._limits:
                return self._hit(self._limits[bucket], bucket, who)
        if self._default:
            self._hit(self._default, route_key, who)

    def auth_failed(self, ip: str) -> None:
        """Strict mode: count a failed authentication of `ip`; raises RateLimited past the limit."""
        if self._auth_failures:
            self._hit(self._auth_failures, "failed authentications", f"ip:{ip}")

    def _hit(self, items: list[RateLimitItem], bucket: str, who: str) -> None:
        for item in items:
            try:
                allowed = self._limiter.hit(item, bucket, who)
                if allowed:
                    continue
                reset = self._limiter.get_window_stats(item, bucket, who).reset_time
            except Exception:  # noqa: BLE001 - a broken limiter store must not take the API down (fail open)
                log.exception("rate limiter storage failed; request allowed")
                return
            raise RateLimited(str(item), bucket, math.ceil(reset - time.time()))
