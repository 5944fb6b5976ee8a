"""Adapter registry: immutable versions (`name@vN`) and mutable aliases (`name` -> active version)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

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
        return [AliasView(a.name, a.version_id, v, a.revision, a.previous_version_id) for a, v in rows]

    def alias(self, name: str) -> AliasView | None:
        return next((a for a in self.aliases() if a.name == name), None)

    def activate(self, version_id: str, reason: str | None = None) -> AliasView:
        """Point the version's alias at it (promotion or rollback); the previous active version is archived."""
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
                if old is not None and old.status == "active":
                    old.status = "archived"
                alias.previous_version_id, alias.version_id = alias.version_id, row.id
                alias.revision += 1
                alias.updated_at = utcnow()
            row.status, row.status_reason = "active", reason
            view = AliasView(alias.name, alias.version_id, row.version, alias.revision, alias.previous_version_id)
        return view

    def set_status(self, version_id: str, status: str, reason: str | None = None) -> None:
        with self.db.session() as s:
            row = s.get(AdapterVersion, version_id)
            if row is None:
                raise UnknownAdapter(f"no adapter version with id {version_id}")
            if status != "active" and s.scalar(select(AdapterAlias).where(AdapterAlias.version_id == version_id)):
                raise RegistryConflict(f"{row.name}@v{row.version} is the active version; activate another first")
            row.status, row.status_reason = status, reason

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
