"""API key store: create, list, revoke and verify long-lived bearer keys bound to roles (only SHA-256 hashes stored)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from clara_ray.db.lazy import LazyDatabase
from clara_ray.db.tables import ApiKey, utcnow
from clara_ray.names import InvalidName, NameKind, check_name

log = logging.getLogger("clara.security.api_keys")

KEY_PREFIX = "clara_sk_"
"""Every key starts with this, so a bearer token is recognised as a key (not a JWT) and secret scanners find it."""
SECRET_BYTES = 32  # 256 bits of randomness: a plain SHA-256 is a safe way to store it (no slow hash needed)
DISPLAY_CHARS = 8  # random characters kept (with KEY_PREFIX) as the display prefix
MAX_KEY_LENGTH = 128  # longer bearer tokens with the prefix are refused without touching the database
LAST_USED_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often per key


class ApiKeyError(Exception):
    """Base of the key store's errors."""


class InvalidKeyRequest(ApiKeyError):
    """A create request the store refuses (422); `field` names the offending field."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ApiKeyNotFound(ApiKeyError):
    """No key with this id (404)."""


class ApiKeyRejected(ApiKeyError):
    """A known key that no longer authenticates (401): `reason` is "API key revoked" or "API key expired"."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class KeyStoreUnavailable(ApiKeyError):
    """The key database cannot be read (503); details are logged, never sent to the client."""


@dataclass(frozen=True)
class KeyIdentity:
    """What a verified key authenticates as."""

    id: str
    name: str
    roles: frozenset[str]

    @property
    def subject(self) -> str:
        """Stable principal subject: rate limits, audit `actor` and `created_by` all show it was a key."""
        return f"key:{self.id}"


def looks_like_key(token: str) -> bool:
    """True for bearer tokens that are API keys (verified by the store, never parsed as JWTs)."""
    return token.startswith(KEY_PREFIX)


def hash_key(plaintext: str) -> str:
    """Hex SHA-256 of the whole key: the only form of the key the database holds."""
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def key_view(row: ApiKey) -> dict:
    """The listing of a key: everything but its hash (the key itself is shown only once, at creation)."""
    return {"id": row.id, "name": row.name, "roles": list(row.roles), "prefix": row.prefix,
            "created_by": row.created_by, "created_at": _iso(row.created_at), "expires_at": _iso(row.expires_at),
            "last_used_at": _iso(row.last_used_at), "revoked_at": _iso(row.revoked_at)}


class ApiKeyStore:
    """Opens (and migrates) the database on first use, like the audit log. `clock` is replaceable in tests."""

    def __init__(self, database_url: str, *, clock: Callable[[], datetime] = utcnow):
        self.url = database_url
        self.clock = clock
        self._db = LazyDatabase(database_url)

    def _database(self):
        return self._db.get()

    @contextmanager
    def _session(self) -> Iterator[Session]:
        """A transaction; database failures become KeyStoreUnavailable (logged here, not shown to clients)."""
        try:
            with self._database().session() as s:
                yield s
        except SQLAlchemyError:
            log.exception("API key store failed")
            raise KeyStoreUnavailable("API key store unavailable; try again later") from None

    def create(self, *, name: str, roles: Collection[str], known_roles: Collection[str],
               expires_in_days: int | None = None, created_by: str | None = None) -> tuple[ApiKey, str]:
        """A new key bound to `roles` (each one of `known_roles`): its row and the plaintext key, shown only now."""
        try:
            check_name(name, NameKind.API_KEY)
        except InvalidName as e:
            raise InvalidKeyRequest("name", str(e)) from None
        wanted = sorted(set(roles))
        if not wanted:
            raise InvalidKeyRequest("roles", "at least one role is required")
        unknown = [r for r in wanted if r not in known_roles]
        if unknown:
            raise InvalidKeyRequest("roles", f"unknown role(s) {', '.join(map(repr, unknown))}; known roles: "
                                             f"{', '.join(sorted(known_roles))}")
        if expires_in_days is not None and expires_in_days < 1:
            raise InvalidKeyRequest("expires_in_days", "must be at least 1 (or null for a key that never expires)")
        plaintext = KEY_PREFIX + secrets.token_urlsafe(SECRET_BYTES)
        now = self.clock()
        row = ApiKey(name=name, roles=wanted, key_hash=hash_key(plaintext),
                     prefix=plaintext[:len(KEY_PREFIX) + DISPLAY_CHARS], created_by=created_by, created_at=now,
                     expires_at=now + timedelta(days=expires_in_days) if expires_in_days is not None else None)
        with self._session() as s:
            s.add(row)
        return row, plaintext

    def list(self) -> list[ApiKey]:
        """Every key, revoked and expired ones included, newest first."""
        with self._session() as s:
            return list(s.scalars(select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id)).all())

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key at once (idempotent: a second revoke keeps the first time); raises ApiKeyNotFound."""
        with self._session() as s:
            row = s.get(ApiKey, key_id)
            if row is None:
                raise ApiKeyNotFound(f"no API key with id {key_id!r}")
            if row.revoked_at is None:
                row.revoked_at = self.clock()
            return row

    def verify(self, plaintext: str) -> KeyIdentity | None:
        """The identity of a valid key; None for an unknown key; ApiKeyRejected for a revoked or expired one."""
        if not looks_like_key(plaintext) or len(plaintext) > MAX_KEY_LENGTH:
            return None
        digest = hash_key(plaintext)
        now = self.clock()
        with self._session() as s:
            row = s.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
            if row is None or not hmac.compare_digest(row.key_hash, digest):
                return None
            if row.revoked_at is not None:
                raise ApiKeyRejected("API key revoked")
            if row.expires_at is not None and row.expires_at <= now:
                raise ApiKeyRejected("API key expired")
            cutoff = now - LAST_USED_EVERY
            if row.last_used_at is None or row.last_used_at <= cutoff:
                # Conditional, so replicas racing on the same key write once.
                s.execute(update(ApiKey)
                          .where(ApiKey.id == row.id,
                                 or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= cutoff))
                          .values(last_used_at=now)
                          .execution_options(synchronize_session=False))
            return KeyIdentity(id=row.id, name=row.name, roles=frozenset(row.roles))

    def dispose(self) -> None:
        self._db.dispose()
