"""Shared fixtures: databases (SQLite and a real PostgreSQL), settings rooted in a temp dir."""

from __future__ import annotations

import os
import uuid

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

PG_ADMIN_URL = os.environ.get("CLARA_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_available() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return None
    except Exception as e:  # noqa: BLE001
        return f"no PostgreSQL server reachable at {PG_ADMIN_URL}: {e}"


@pytest.fixture(scope="session")
def pg_server():
    reason = _pg_available()
    if reason:
        pytest.skip(reason)
    return PG_ADMIN_URL


@pytest.fixture
def pg_url(pg_server):
    """A fresh PostgreSQL database per test, dropped afterwards."""
    import psycopg

    name = f"clara_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    base = pg_server.rsplit("/", 1)[0]
    yield f"{base.replace('postgresql://', 'postgresql+psycopg://')}/{name}"
    with psycopg.connect(pg_server, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'clara.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def db(db_url):
    from clara_ray.db.engine import Database

    d = Database(db_url)
    yield d
    d.dispose()


@pytest.fixture
def settings(tmp_path, monkeypatch):
    """Settings rooted in tmp_path, ignoring the repo's configs/clara.yaml and CLARA_* env."""
    from clara_ray.config import load_settings

    for k in list(os.environ):
        if k.startswith("CLARA_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("CLARA_CONFIG", str(tmp_path / "none.yaml"))
    return load_settings(storage={"data_dir": tmp_path / "clara"}, **roots_in(tmp_path))


def roots_in(folder) -> dict:
    """Settings overrides that let client-named server paths (data_paths, ingest, import, export) lie in `folder`,
    a test's temp dir, besides the defaults (clara_ray/server_paths.py)."""
    return {"training": {"data_roots": [str(folder), "{resources}"]},
            "serving": {"adapter_import_roots": [str(folder)]},
            "datasets": {"ingest_roots": [str(folder), "{resources}"], "export_roots": [str(folder)]}}
