"""Database engine, sessions and schema migration (Alembic) for SQLite and PostgreSQL alike."""

from __future__ import annotations

import fcntl
import threading
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_migrate_lock = threading.Lock()


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL + a busy timeout so Ray workers and the API can share one file."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _):  # noqa: ANN001
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


# pg_advisory_xact_lock key shared by every process migrating the same PostgreSQL database ("CLARAMIG").
PG_MIGRATE_LOCK_KEY = 0x434C4152414D4947


def _alembic_config() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def _at_head(conn: Connection, cfg: AlembicConfig) -> bool:
    current = set(MigrationContext.configure(conn).get_current_heads())
    return current == set(ScriptDirectory.from_config(cfg).get_heads())


@contextmanager
def _sqlite_file_lock(url: URL) -> Iterator[None]:
    """An exclusive flock on `<db>.migrate.lock` next to a SQLite file (no-op for in-memory databases)."""
    if not url.database or url.database == ":memory:":
        yield
        return
    lock_path = Path(url.database).with_name(Path(url.database).name + ".migrate.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def migrate(engine: Engine) -> bool:
    """Bring the schema to the newest revision (creates it on an empty database); True if anything was upgraded.

    Safe when many processes start at once: on PostgreSQL the check and the upgrade run in one transaction
    under a transaction-level advisory lock (released by the commit); on SQLite under an exclusive file lock.
    Whoever gets the lock second finds the schema at head and does nothing.
    """
    cfg = _alembic_config()
    backend = engine.url.get_backend_name()
    file_lock = _sqlite_file_lock(engine.url) if backend == "sqlite" else nullcontext()
    with _migrate_lock, file_lock, engine.begin() as conn:
        if backend == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATE_LOCK_KEY})
        if _at_head(conn, cfg):
            return False
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        return True


class Database:
    """Engine + session factory for one database URL; migrated on creation."""

    def __init__(self, url: str, *, run_migrations: bool = True):
        self.url = url
        self.engine = make_engine(url)
        if run_migrations:
            migrate(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: commits on success, rolls back on error."""
        with self._sessions() as s, s.begin():
            yield s

    def dispose(self) -> None:
        self.engine.dispose()
