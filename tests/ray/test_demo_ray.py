"""The demo as a user runs it: only its own lines on the terminal, and SIGINT/SIGTERM stop it cleanly and promptly."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

pytestmark = [pytest.mark.ray]
REPO = Path(__file__).resolve().parents[2]
DEMO_LINE = re.compile(r"^(\[\d\d:\d\d:\d\d\] |    job [0-9a-f]{8} )")  # say() and follow_job() lines


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Demo:
    """`python -m jobs.demo` in its own session (so a whole-group signal is what Ctrl-C in a terminal sends)."""

    def __init__(self, tmp_path: Path, *, sigint_ignored: bool = False):
        self.data_dir = tmp_path / "data"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "CLARA_"))}
        env.update(CLARA_CONFIG=str(tmp_path / "none.yaml"), CLARA_STORAGE__DATA_DIR=str(self.data_dir),
                   CLARA_RAY__NAMESPACE=f"clara-demo-{tmp_path.name}", CLARA_RAY__NUM_CPUS="2",
                   RAY_AUTH_MODE="disabled", HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "jobs.demo", "--port", str(_free_port())], cwd=REPO,
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True,
                                     # what a non-interactive shell does to a background job (`demo.sh &`)
                                     preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
                                     if sigint_ignored else None)
        self.lines: list[str] = []
        self._q: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self._q.put(line.rstrip("\n"))

    def wait_for_line(self, fragment: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._q.get(timeout=1)
            except queue.Empty:
                assert self.proc.poll() is None, f"demo exited early ({self.proc.returncode}): {self.lines}"
                continue
            self.lines.append(line)
            if fragment in line:
                return
        raise AssertionError(f"no line with {fragment!r} after {timeout:.0f}s: {self.lines}")

    def ray_processes(self) -> list[psutil.Process]:
        """Everything the demo started: the local cluster's GCS, raylet, dashboard, workers (and Serve's actors)."""
        return psutil.Process(self.proc.pid).children(recursive=True)

    def finish(self, timeout: float) -> int:
        rc = self.proc.wait(timeout)
        self._reader.join(10)  # EOF: the demo has exited (its Ray processes never held the terminal pipe)
        while not self._q.empty():
            self.lines.append(self._q.get())
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)


def _assert_stopped_cleanly(demo: Demo, started: list[psutil.Process], sig: signal.Signals) -> None:
    assert demo.finish(timeout=90) == 128 + sig, demo.lines  # prompt, and the exit status names the signal
    assert any(f"{sig.name} received: stopping Serve and Ray" in line for line in demo.lines), demo.lines
    assert "stopped: Serve and the local Ray cluster are shut down" in demo.lines[-1], demo.lines
    gone, alive = psutil.wait_procs(started, timeout=30)
    alive = [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, [(p.pid, p.name()) for p in alive]  # none of its Ray processes is left behind
    assert all(DEMO_LINE.match(line) for line in demo.lines if line.strip()), demo.lines  # only the demo's lines
    log = (demo.data_dir / "demo" / "logs" / "demo.log").read_text(errors="replace")  # the demo's own folder
    assert str(demo.data_dir / "demo" / "logs" / "demo.log") in demo.lines[0] and "Started a local Ray instance" in log


@pytest.mark.timeout(360)
def test_ctrl_c_stops_the_demo_in_the_foreground(tmp_path):
    """Ctrl-C in a terminal: SIGINT to the whole foreground process group, here once Serve is up and working."""
    demo = Demo(tmp_path)
    try:
        demo.wait_for_line("0/4 indexing the bundled documents", timeout=300)
        started = demo.ray_processes()
        assert any("raylet" in " ".join(p.cmdline()) for p in started)  # it runs its own local cluster
        os.killpg(demo.proc.pid, signal.SIGINT)
        _assert_stopped_cleanly(demo, started, signal.SIGINT)
        log = (demo.data_dir / "demo" / "logs" / "demo.log").read_text(errors="replace")
        # ... including the lines Ray relays from its workers and Serve's replicas: "(ServeController pid=…) …"
        assert re.search(r"^(\x1b\[[0-9;]*m)*\((\S+ )?pid=\d+", log, re.M), log[-2000:]
    finally:
        demo.kill()


@pytest.mark.timeout(360)
def test_sigterm_stops_the_demo_in_the_background(tmp_path):
    """`kill <pid>` of a background demo (whose shell ignores SIGINT for it): SIGTERM to the driver alone."""
    demo = Demo(tmp_path, sigint_ignored=True)
    try:
        demo.wait_for_line("deploying the Serve app", timeout=300)
        started = demo.ray_processes()
        demo.proc.send_signal(signal.SIGTERM)
        _assert_stopped_cleanly(demo, started, signal.SIGTERM)
    finally:
        demo.kill()
