"""Adapter registry: immutable versions (`name@vN`) and mutable aliases (`name` -> active version)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from clara_ray.adapters.version_status import VersionStatus, check_version_transition
from clara_ray.db.engine import Database
from clara_ray.db.tables import AdapterAlias, AdapterVersion, new_id, utcnow
from clara_ray.names import InvalidName, parse_adapter_ref



class UnknownAdapter(LookupError):
    """No such adapter alias or version; the message lists what exists."""


class InvalidReference(ValueError):
    """A malformed adapter name, reference or path (HTTP 422)."""


class RegistryConflict(ValueError):
    """The requested change does not fit the registry's state."""


def parse_ref(ref: str) -> tuple[str, int | None]:
    """`name` -> (name, None); `name@v3` -> (name, 3) (clara_ray/names.py rules). Raises InvalidReference."""
    try:
        return parse_adapter_ref(ref)
    except InvalidName as e:
        raise InvalidReference(f"invalid adapter reference {str(ref)[:64]!r}: {e}") from None


@dataclass
class AliasView:
    name: str
    version_id: str
    version: int
    revision: int
    previous_version_id: str | None
    canary_version_id: str | None = None
    """A canary (clara_ray/learning/canary.py) answering `canary_fraction` of the alias's callers; None: none."""
    canary_fraction: float | None = None
    canary_started_at: datetime | None = None
    canary_version: int | None = None
    """The canary's version number (`name@v<canary_version>`)."""


@dataclass(frozen=True)
class AliasRoute:
    """What a request for an alias may be answered by: the active version, and during a canary the canary version
    for `canary_fraction` of the callers."""

    active: AdapterVersion
    canary: AdapterVersion | None = None
    canary_fraction: float = 0.0


class AdapterRegistry:
    def __init__(self, db: Database):
        self.db = db

    def register(self, *, name: str, uri: str, version_id: str | None = None, **fields) -> AdapterVersion:
        """Add a version with the next number for `name` (retries on a concurrent insert)."""
        for _ in range(5):
            try:
                with self.db.session() as s:
                    current = s.scalar(select(func.max(AdapterVersion.version)).where(AdapterVersion.name == name))
                    row = AdapterVersion(id=version_id or new_id(), name=name, version=(current or 0) + 1,
                                         uri=uri, **fields)
                    s.add(row)
                return row
            except IntegrityError:
                continue
        raise RegistryConflict(f"could not allocate a version number for {name}")

    def get_version(self, version_id: str) -> AdapterVersion:
        with self.db.session() as s:
            row = s.get(AdapterVersion, version_id)
        if row is None:
            raise UnknownAdapter(f"no adapter version with id {version_id}")
        return row

    def resolve(self, ref: str) -> AdapterVersion:
        """`name@vN` -> that version; `name` -> the alias's active version."""
        name, version = parse_ref(ref)
        with self.db.session() as s:
            if version is not None:
                row = s.scalar(select(AdapterVersion).where(AdapterVersion.name == name,
                                                            AdapterVersion.version == version))
            else:
                alias = s.get(AdapterAlias, name)
                row = s.get(AdapterVersion, alias.version_id) if alias else None
        if row is None:
            known = ", ".join(self.known_refs()[:50]) or "none"
            raise UnknownAdapter(f"unknown adapter {ref!r}; known: {known}")
        return row

    def known_refs(self) -> list[str]:
        with self.db.session() as s:
            aliases = list(s.scalars(select(AdapterAlias.name).order_by(AdapterAlias.name)))
            versions = [f"{n}@v{v}" for n, v in s.execute(
                select(AdapterVersion.name, AdapterVersion.version).order_by(AdapterVersion.name,
                                                                             AdapterVersion.version))]
        return aliases + versions

    def versions(self, name: str | None = None) -> list[AdapterVersion]:
        with self.db.session() as s:
            q = select(AdapterVersion).order_by(AdapterVersion.name, AdapterVersion.version)
            if name:
                q = q.where(AdapterVersion.name == name)
            return list(s.scalars(q))

    def aliases(self) -> list[AliasView]:
        with self.db.session() as s:
            rows = s.execute(select(AdapterAlias, AdapterVersion.version)
                             .join(AdapterVersion, AdapterVersion.id == AdapterAlias.version_id)
                             .order_by(AdapterAlias.name)).all()
            canaries = [a.canary_version_id for a, _ in rows if a.canary_version_id]
            numbers = {vid: n for vid, n in s.execute(select(AdapterVersion.id, AdapterVersion.version)
                                                      .where(AdapterVersion.id.in_(canaries)))} if canaries else {}
        return [_alias_view(a, v, numbers.get(a.canary_version_id)) for a, v in rows]

    def alias(self, name: str) -> AliasView | None:
        return next((a for a in self.aliases() if a.name == name), None)

    def route(self, name: str) -> AliasRoute:
        """The alias's active version and its canary, if any (UnknownAdapter when the alias does not exist)."""
        with self.db.session() as s:
            alias = s.get(AdapterAlias, name)
            if alias is not None:
                active = s.get(AdapterVersion, alias.version_id)
                canary = s.get(AdapterVersion, alias.canary_version_id) if alias.canary_version_id else None
                return AliasRoute(active, canary, float(alias.canary_fraction or 0.0) if canary else 0.0)
        self.resolve(name)  # raises UnknownAdapter listing what exists
        raise UnknownAdapter(f"unknown adapter {name!r}")

    def start_canary(self, version_id: str, fraction: float, reason: str | None = None) -> AliasView:
        """Let a candidate answer `fraction` of its alias's callers: the version becomes CANARY, the alias records it
        (revision bumped, so every replica re-reads it). RegistryConflict when the alias has another canary."""
        with self.db.session() as s:
            row = s.get(AdapterVersion, version_id, with_for_update=True)
            if row is None:
                raise UnknownAdapter(f"no adapter version with id {version_id}")
            alias = s.get(AdapterAlias, row.name, with_for_update=True)
            if alias is None:
                raise RegistryConflict(f"{row.name} has no active version to run a canary against")
            if alias.canary_version_id and alias.canary_version_id != row.id:
                raise RegistryConflict(f"{row.name} already runs a canary ({alias.canary_version_id})")
            row.status = check_version_transition(row.status, VersionStatus.CANARY).value
            row.status_reason = reason
            alias.canary_version_id, alias.canary_fraction, alias.canary_started_at = row.id, fraction, utcnow()
            alias.revision += 1
            alias.updated_at = utcnow()
            view = _alias_view(alias, s.get(AdapterVersion, alias.version_id).version, row.version)
        return view

    def end_canary(self, name: str, *, promote: bool, reason: str | None = None) -> AliasView:
        """End the alias's canary: promoted (it becomes the active version, the previous one archived) or rolled back
        (REJECTED). Either way the alias no longer has a canary and its revision is bumped. RegistryConflict without
        a canary."""
        with self.db.session() as s:
            alias = s.get(AdapterAlias, name, with_for_update=True)
            if alias is None or not alias.canary_version_id:
                raise RegistryConflict(f"{name} has no canary")
            row = s.get(AdapterVersion, alias.canary_version_id, with_for_update=True)
            alias.canary_version_id = alias.canary_fraction = alias.canary_started_at = None
            if promote:
                old = s.get(AdapterVersion, alias.version_id)
                if old is not None and old.id != row.id and old.status == VersionStatus.ACTIVE:
                    old.status = check_version_transition(old.status, VersionStatus.ARCHIVED).value
                if alias.version_id != row.id:
                    alias.previous_version_id, alias.version_id = alias.version_id, row.id
                row.status = check_version_transition(row.status, VersionStatus.ACTIVE).value
            else:
                row.status = check_version_transition(row.status, VersionStatus.REJECTED).value
            row.status_reason = reason
            alias.revision += 1
            alias.updated_at = utcnow()
            view = _alias_view(alias, s.get(AdapterVersion, alias.version_id).version, None)
        return view

    def activate(self, version_id: str, reason: str | None = None) -> AliasView:
        """Point the version's alias at it (promotion or rollback); the previous active version is archived.
        Activating the alias's canary ends the canary (it is the active version now)."""
        with self.db.session() as s:
            row = s.get(AdapterVersion, version_id, with_for_update=True)
            if row is None:
                raise UnknownAdapter(f"no adapter version with id {version_id}")
            alias = s.get(AdapterAlias, row.name, with_for_update=True)
            if alias is None:
                alias = AdapterAlias(name=row.name, version_id=row.id, revision=1)
                s.add(alias)
            elif alias.version_id != row.id:
                old = s.get(AdapterVersion, alias.version_id)
                if old is not None and old.status == VersionStatus.ACTIVE:
                    old.status = check_version_transition(old.status, VersionStatus.ARCHIVED).value
                alias.previous_version_id, alias.version_id = alias.version_id, row.id
                alias.revision += 1
                alias.updated_at = utcnow()
            if alias.canary_version_id == row.id:
                alias.canary_version_id = alias.canary_fraction = alias.canary_started_at = None
            row.status = check_version_transition(row.status, VersionStatus.ACTIVE).value
            row.status_reason = reason
            canary = s.get(AdapterVersion, alias.canary_version_id) if alias.canary_version_id else None
            view = _alias_view(alias, row.version, canary.version if canary else None)
        return view

    def set_status(self, version_id: str, status: VersionStatus, reason: str | None = None) -> None:
        """Move a version along its lifecycle (adapters/version_status.py); IllegalTransition for a move the table
        does not allow."""
        status = VersionStatus(status)
        with self.db.session() as s:
            row = s.get(AdapterVersion, version_id)
            if row is None:
                raise UnknownAdapter(f"no adapter version with id {version_id}")
            if status != VersionStatus.ACTIVE and s.scalar(select(AdapterAlias).where(AdapterAlias.version_id == version_id)):
                raise RegistryConflict(f"{row.name}@v{row.version} is the active version; activate another first")
            if s.scalar(select(AdapterAlias).where(AdapterAlias.canary_version_id == version_id)):
                raise RegistryConflict(f"{row.name}@v{row.version} is the alias's canary; end the canary first")
            row.status = check_version_transition(row.status, status).value
            row.status_reason = reason

    def rollback(self, name: str, to_version: int | None = None) -> AliasView:
        """Re-activate `name@v<to_version>`, or the previously active version."""
        alias = self.alias(name)
        if alias is None:
            raise UnknownAdapter(f"adapter {name!r} has no active version")
        if to_version is None:
            if not alias.previous_version_id:
                raise RegistryConflict(f"{name} has no previous version to roll back to")
            target = self.get_version(alias.previous_version_id)
        else:
            target = self.resolve(f"{name}@v{to_version}")
        return self.activate(target.id, reason=f"rollback from v{alias.version}")


def _alias_view(alias: AdapterAlias, version: int, canary_version: int | None) -> AliasView:
    return AliasView(alias.name, alias.version_id, version, alias.revision, alias.previous_version_id,
                     alias.canary_version_id, alias.canary_fraction, alias.canary_started_at,
                     canary_version if alias.canary_version_id else None)
