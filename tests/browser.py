"""Headless Chromium for the console tests: Debian's /usr/bin/chromium driven by Playwright, screenshots as artifacts.

Playwright's own browser download does not work here, so it is pointed at the system browser. Without one the
tests skip, unless CLARA_REQUIRE_BROWSER=1 (set by .ci/run, which installs chromium) makes that a failure.

Wait with locators and `expect(...)`, never with `page.wait_for_function("<js string>")`: Playwright polls a
string predicate through `eval`, which the console's CSP forbids (no 'unsafe-eval'), so the wait fails with an
EvalError as soon as the condition is not already true on the first check.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CLARA_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("CLARA_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-default-apps",
         "--disable-sync", "--no-first-run", "--metrics-recording-only"]


def require_chromium() -> str:
    path = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if path:
        return path
    message = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if os.environ.get("CLARA_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def chromium():
    """A Playwright Browser on the system Chromium."""
    executable = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=FLAGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


class PageWatch:
    """Collects what a page does wrong (JS errors, console errors) and every request that leaves `origin`."""

    def __init__(self, page, origin: str, allowed_origins: tuple[str, ...] = ()):
        self.errors: list[str] = []
        self.foreign: list[str] = []
        allowed = (origin, *allowed_origins)
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        page.on("console", lambda m: self.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("request", lambda r: None if r.url.startswith(allowed) or r.url.startswith(("data:", "blob:"))
                else self.foreign.append(r.url))


def screenshot(page, name: str) -> Path:
    """Full-page PNG under test-artifacts/console/ (kept after the run)."""
    out = ARTIFACTS / "console" / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out), full_page=True)
    return out


class AppServer:
    """Serves an ASGI app with uvicorn on a free localhost port in a background thread."""

    def __init__(self, app):
        import socket

        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
