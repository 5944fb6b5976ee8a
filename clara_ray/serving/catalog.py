"""Model names -> adapter versions: `alias`, `alias@vN`, `<base>:alias`, or the base model; alias lookups cached briefly."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from clara_ray.adapters.version_status import VersionStatus
from clara_ray.adapters.registry import AdapterRegistry, RegistryConflict, UnknownAdapter, parse_ref

BASE_NAMES = {"", "base", "__base__"}

# Statuses an exact `name@vN` is served in: the alias's active version, and candidates (trained or imported, not
# yet promoted: the console compares them side by side with the active one). Rejected and archived versions
# (superseded, rolled back from, or unloaded) are refused with their status and reason unless an admin pins one
# (X-Clara-Allow-Inactive, see clara_ray/api/pinning.py). Rollback needs no serving: it re-activates the version.
SERVABLE_STATUSES = frozenset({VersionStatus.ACTIVE, VersionStatus.CANDIDATE, VersionStatus.CANARY})


class VersionNotServable(RegistryConflict):
    """An exact version whose status takes no requests (HTTP 409 with `version_status` and `status_reason`)."""

    def __init__(self, ref: str, status: str, status_reason: str | None):
        super().__init__(f"{ref} is {status} ({status_reason or 'no reason recorded'}) and is not served; use the "
                         f"alias or an active or candidate version")
        self.status, self.status_reason = status, status_reason
        self.detail_fields = {"version_status": status, "status_reason": status_reason}


@dataclass(frozen=True)
class ResolvedModel:
    requested: str
    version_id: str | None  # None = the base model
    ref: str | None  # name@vN
    uri: str | None = None
    rank: int = 0
    base_model: str | None = None
    domain: str | None = None


def canary_share(alias: str, canary_version_id: str, caller: str) -> float:
    """Where `caller` falls in [0, 1) for this canary: it answers the callers below its fraction. Stable for a caller
    throughout one canary (sticky); salted with the canary's version id, so each canary samples other callers."""
    digest = hashlib.sha256(f"{alias}\x00{canary_version_id}\x00{caller}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64


@dataclass(frozen=True)
class _AliasTarget:
    active: ResolvedModel
    canary: ResolvedModel | None = None
    fraction: float = 0.0

    def pick(self, alias: str, caller: str | None) -> ResolvedModel:
        if self.canary is None or caller is None or self.fraction <= 0:
            return self.active
        return self.canary if canary_share(alias, self.canary.version_id, caller) < self.fraction else self.active


class AdapterCatalog:
    """Read side of the registry for serving. Versions are immutable, so only alias lookups are cached: until the
    revision hub says the alias moved (`invalidate`), or `ttl_seconds` as a fallback."""

    def __init__(self, registry: AdapterRegistry, base_model: str, ttl_seconds: float = 1.0):
        self.registry, self.base_model, self.ttl = registry, base_model, ttl_seconds
        self._started = int(time.time())
        self._alias_cache: dict[str, tuple[float, ResolvedModel]] = {}
        self._generation = 0  # bumped by invalidate: a lookup that read the database before it is not cached

    def resolve(self, model: str | None, *, allow_inactive: bool = False, caller: str | None = None) -> ResolvedModel:
        """Raises ValueError for a malformed name (422), UnknownAdapter for an unknown one (404) and
        VersionNotServable for an exact version outside SERVABLE_STATUSES (409) unless `allow_inactive`.

        During a canary an alias answers with the canary version for the callers whose `canary_share` is below its
        fraction (`caller`: who asks, stable across requests; None: the active version). Exact versions are
        unaffected."""
        name = (model or "").strip()
        if name in BASE_NAMES or name == self.base_model:
            return ResolvedModel(name, None, None)
        if ":" in name:  # Ray Serve LLM style `base:adapter`
            base, _, name = name.partition(":")
            if base not in (self.base_model, "base"):
                raise UnknownAdapter(f"unknown base model {base!r}; this deployment serves {self.base_model!r}")
        alias, version = parse_ref(name)
        if version is None:
            hit = self._alias_cache.get(alias)
            if hit and time.monotonic() - hit[0] < self.ttl:
                return _requested(hit[1].pick(alias, caller), model)
            generation = self._generation
            route = self.registry.route(alias)
            target = _AliasTarget(_resolved(model, route.active),
                                  _resolved(model, route.canary) if route.canary is not None else None,
                                  route.canary_fraction)
            if generation == self._generation:
                self._alias_cache[alias] = (time.monotonic(), target)
            return target.pick(alias, caller)
        v = self.registry.resolve(name)
        if v.status not in SERVABLE_STATUSES and (not allow_inactive or v.status == VersionStatus.PURGED):
            raise VersionNotServable(f"{v.name}@v{v.version}", v.status, v.status_reason)
        return _resolved(model, v)

    def invalidate(self, name: str | None = None) -> None:
        """Forget `name` (every alias when None); a lookup in flight in another thread is not cached either."""
        self._generation += 1
        if name is None:
            self._alias_cache.clear()
        else:
            self._alias_cache.pop(name, None)

    def models(self) -> list[dict]:
        """Entries of /v1/models: the base model, every alias (with the version it serves) and every version
        (with its `status` and whether it is `servable` by name; the completion log still names retired ones)
        except rejected candidates (and purged ones): a version the gate refused is not offered as a model.

        As vLLM lists LoRA adapters: `root` and `parent` name the base model; `created` is a Unix time (the base
        model's: when this catalog started; an alias's: its active version's)."""
        base = self.base_model
        out = [{"id": base, "object": "model", "created": self._started, "owned_by": "clara", "kind": "base",
                "root": base, "parent": None}]
        versions = {v.id: v for v in self.registry.versions()}
        for a in self.registry.aliases():
            v = versions[a.version_id]
            out.append({"id": a.name, "object": "model", "created": int(v.created_at.timestamp()), "owned_by": "clara",
                        "kind": "alias", "version": f"{a.name}@v{a.version}", "root": base, "parent": base})
        for v in versions.values():
            if v.status in (VersionStatus.REJECTED, VersionStatus.PURGED):  # the gate refused it: not offered
                continue
            out.append({"id": f"{v.name}@v{v.version}", "object": "model", "created": int(v.created_at.timestamp()),
                        "owned_by": "clara", "kind": "version", "status": v.status,
                        "servable": v.status in SERVABLE_STATUSES, "root": base, "parent": base})
        return out


def _resolved(model: str | None, v) -> ResolvedModel:
    return ResolvedModel(model or "", v.id, f"{v.name}@v{v.version}", v.uri, v.rank, v.base_model, v.domain)


def _requested(resolved: ResolvedModel, model: str | None) -> ResolvedModel:
    """A cached alias target as this request named it (`requested` is what the client sent)."""
    if resolved.requested == (model or ""):
        return resolved
    return ResolvedModel(model or "", resolved.version_id, resolved.ref, resolved.uri, resolved.rank,
                         resolved.base_model, resolved.domain)
