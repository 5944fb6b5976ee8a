"""Schema migrations under concurrency: many processes migrating one fresh database upgrade it exactly once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from clara_ray.db.engine import MIGRATIONS_DIR, make_engine, migrate

# Each worker reports "ready", waits for the go file (so all of them race for the lock), then migrates.
WORKER = """
import sys, time
from pathlib import Path
from clara_ray.db.engine import make_engine, migrate
url, go = sys.argv[1], Path(sys.argv[2])
print("ready", flush=True)
deadline = time.time() + 60
while not go.exists():
    assert time.time() < deadline, "no go signal"
    time.sleep(0.01)
print("upgraded" if migrate(make_engine(url)) else "at-head", flush=True)
"""


def _head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    (head,) = ScriptDirectory.from_config(cfg).get_heads()
    return head


def _race(url: str, tmp_path: Path, n: int = 4) -> list[str]:
    go = tmp_path / "go"
    root = Path(__file__).resolve().parents[2]
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, url, str(go)], cwd=root, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(n)]
    for p in procs:  # a blocking read of the first line: each worker has imported everything
        assert p.stdout.readline().strip() == "ready", p.stderr.read()
    go.touch()
    outcomes = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outcomes.append(out.strip())
    return outcomes


@pytest.mark.timeout(180)
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_concurrent_processes_migrate_a_fresh_database_once(backend, tmp_path, request):
    url = f"sqlite:///{tmp_path / 'clara.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    outcomes = _race(url, tmp_path)
    assert sorted(outcomes) == ["at-head"] * 3 + ["upgraded"], outcomes  # one process upgraded, the rest waited
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            assert [r[0] for r in c.execute(text("SELECT version_num FROM alembic_version"))] == [_head()]
        assert migrate(engine) is False  # already at head: nothing to do
    finally:
        engine.dispose()
