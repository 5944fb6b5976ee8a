"""scripts/install.sh skips the install when the environment is current and reinstalls when its inputs change."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path) -> Path:
    """A copy of the script next to a pyproject/constraints pair and a stub .venv python that logs its calls."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "install.sh", tmp_path / "scripts" / "install.sh")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    (tmp_path / "constraints.txt").write_text("ray==2.60.0\n")
    stub = tmp_path / ".venv" / "bin" / "python"
    stub.parent.mkdir(parents=True)
    stub.write_text(f'#!/bin/sh\necho "$@" >> "{tmp_path}/pip-calls"\n')
    stub.chmod(0o755)
    return tmp_path


def install(project: Path, **env) -> tuple[str, list[str]]:
    out = subprocess.run(["bash", str(project / "scripts" / "install.sh")], capture_output=True, text=True,
                         timeout=60, env={**os.environ, **env}, check=True).stdout
    calls = project / "pip-calls"
    return out, calls.read_text().splitlines() if calls.exists() else []


@pytest.mark.timeout(120)
def test_install_runs_once_then_skips_until_an_input_changes(project):
    _, calls = install(project)
    assert any("install -q -c constraints.txt -e .[test]" in c for c in calls), calls  # a fresh venv installs
    out, again = install(project)
    assert again == calls and "skipping" in out  # nothing changed: pip is not called at all
    (project / "constraints.txt").write_text("ray==2.61.0\n")
    _, after_change = install(project)
    assert len(after_change) > len(calls)  # new constraints: installs again
    _, forced = install(project, CLARA_FORCE_INSTALL="1")
    assert len(forced) > len(after_change)  # forced even though current
    _, unpinned = install(project, CLARA_CONSTRAINTS="none")
    _, unpinned_again = install(project, CLARA_CONSTRAINTS="none")
    assert len(unpinned_again) > len(unpinned)  # an unpinned install is never taken as current
