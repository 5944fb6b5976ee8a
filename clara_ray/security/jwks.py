"""JWKS key cache: keys fetched from the identity provider, kept for a TTL, refetched (throttled) on an unknown kid."""

from __future__ import annotations

import logging
import time
from typing import Iterable

import httpx
from jwt import PyJWK
from jwt.exceptions import PyJWKError

from clara_ray.security.errors import AuthenticationFailed, AuthUnavailable

log = logging.getLogger("clara.security.jwks")


class JwksCache:
    """Not bound to an event loop (plain state, no asyncio locks), so one instance serves any loop or thread."""

    def __init__(self, url: str, *, ttl: float = 300, min_refetch: float = 10, timeout: float = 5,
                 algorithms: Iterable[str] = ("RS256",)):
        self.url, self.ttl, self.min_refetch, self.timeout = url, ttl, min_refetch, timeout
        self.algorithms = set(algorithms)
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at = float("-inf")
        self._last_attempt = float("-inf")
        self.fetches = 0  # successful fetches (tests and debugging)

    async def key_for(self, kid: str | None) -> PyJWK:
        now = time.monotonic()
        key = self._lookup(kid)
        fresh = now - self._fetched_at < self.ttl
        if (key is None or not fresh) and now - self._last_attempt >= self.min_refetch:
            self._last_attempt = now
            await self._refresh()
            key = self._lookup(kid)
        if key is not None:
            return key
        if not self._keys:
            raise AuthUnavailable()
        raise AuthenticationFailed("unknown signing key")

    def _lookup(self, kid: str | None) -> PyJWK | None:
        if kid is None:  # tokens without kid are accepted only while the set holds exactly one key
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    async def _refresh(self) -> None:
        try:
            async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as client:
                resp = await client.get(self.url, headers={"Accept": "application/json"})
                resp.raise_for_status()
                data = resp.json()
        except (httpx.HTTPError, ValueError) as e:
            log.warning("JWKS fetch from %s failed (%s); keeping %d cached key(s)", self.url, type(e).__name__,
                        len(self._keys))
            return
        keys = self._parse(data)
        if not keys:
            log.warning("JWKS at %s holds no usable signing key; keeping the cached ones", self.url)
            return
        self._keys, self._fetched_at = keys, time.monotonic()
        self.fetches += 1
        log.info("JWKS refreshed from %s: %d signing key(s)", self.url, len(keys))

    def _parse(self, data: object) -> dict[str, PyJWK]:
        keys: dict[str, PyJWK] = {}
        for jwk in (data.get("keys") or []) if isinstance(data, dict) else []:
            if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
                continue  # Keycloak also publishes encryption keys (use=enc)
            if jwk.get("alg") and jwk["alg"] not in self.algorithms:
                continue
            try:
                keys[jwk.get("kid") or ""] = PyJWK(jwk)
            except PyJWKError:
                continue
        return keys
