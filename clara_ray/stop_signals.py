"""Turn SIGINT and SIGTERM into one exception in the main thread, so a driver can shut down cleanly on either."""

from __future__ import annotations

import signal
from contextlib import contextmanager
from typing import Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequested(BaseException):
    """A stop signal arrived (BaseException, like KeyboardInterrupt, so `except Exception` does not swallow it)."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(signal.Signals(signum).name)

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _raise(signum: int, _frame) -> None:  # noqa: ANN001
    raise StopRequested(signum)


def install() -> None:
    """Handle SIGINT and SIGTERM by raising StopRequested; also when the shell started us with SIGINT ignored
    (a background job of a non-interactive shell)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, _raise)


@contextmanager
def signals_kill() -> Iterator[None]:
    """While shutting down: a further SIGINT/SIGTERM ends the process at once (the user insists)."""
    previous = {sig: signal.signal(sig, signal.SIG_DFL) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
