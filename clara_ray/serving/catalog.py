"""Model names -> adapter versions: `alias`, `alias@vN`, `<base>:alias`, or the base model; alias lookups cached briefly."""

from __future__ import annotations

import time
from dataclasses import dataclass

from clara_ray.adapters.registry import AdapterRegistry, RegistryConflict, UnknownAdapter, parse_ref

BASE_NAMES = {"", "base", "__base__"}

# Statuses an exact `name@vN` is served in: the alias's active version, and candidates (trained or imported, not
# yet promoted: the console compares them side by side with the active one). Rejected and archived versions
# (superseded, rolled back from, or unloaded) are refused with their status and reason unless an admin pins one
# (X-Clara-Allow-Inactive, see clara_ray/api/pinning.py). Rollback needs no serving: it re-activates the version.
SERVABLE_STATUSES = frozenset({"active", "candidate"})
FILES_REMOVED = "purged"  # a rejected version whose files retention deleted: refused even when pinned


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


class AdapterCatalog:
    """Read side of the registry for serving. Versions are immutable, so only alias lookups are cached: until the
    revision hub says the alias moved (`invalidate`), or `ttl_seconds` as a fallback."""

    def __init__(self, registry: AdapterRegistry, base_model: str, ttl_seconds: float = 1.0):
        self.registry, self.base_model, self.ttl = registry, base_model, ttl_seconds
        self._started = int(time.time())
        self._alias_cache: dict[str, tuple[float, ResolvedModel]] = {}
        self._generation = 0  # bumped by invalidate: a lookup that read the database before it is not cached

    def resolve(self, model: str | None, *, allow_inactive: bool = False) -> ResolvedModel:
        """Raises ValueError for a malformed name (422), UnknownAdapter for an unknown one (404) and
        VersionNotServable for an exact version outside SERVABLE_STATUSES (409) unless `allow_inactive`."""
        name = (model or "").strip()
        if name in BASE_NAMES or name == self.base_model:
            return ResolvedModel(name, None, None)
        if ":" in name:  # Ray Serve LLM style `base:adapter`
            base, _, name = name.partition(":")
            if base not in (self.base_model, "base"):
                raise UnknownAdapter(f"unknown base model {base!r}; this deployment serves {self.base_model!r}")
        _, version = parse_ref(name)
        if version is None:
            hit = self._alias_cache.get(name)
            if hit and time.monotonic() - hit[0] < self.ttl:
                return hit[1]
        generation = self._generation
        v = self.registry.resolve(name)
        if version is not None and v.status not in SERVABLE_STATUSES and (
                not allow_inactive or v.status == FILES_REMOVED):
            raise VersionNotServable(f"{v.name}@v{v.version}", v.status, v.status_reason)
        resolved = ResolvedModel(model or "", v.id, f"{v.name}@v{v.version}", v.uri, v.rank, v.base_model, v.domain)
        if version is None and generation == self._generation:
            self._alias_cache[name] = (time.monotonic(), resolved)
        return resolved

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
            if v.status in ("rejected", FILES_REMOVED):  # a gate's rejected candidate is not offered as a model
                continue
            out.append({"id": f"{v.name}@v{v.version}", "object": "model", "created": int(v.created_at.timestamp()),
                        "owned_by": "clara", "kind": "version", "status": v.status,
                        "servable": v.status in SERVABLE_STATUSES, "root": base, "parent": base})
        return out
