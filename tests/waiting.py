"""Waiting on state a test cannot await (another process or thread changes it): poll with a deadline, never a fixed sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll(fn: Callable[[], T], what: str, timeout: float = 120.0, interval: float = 0.1) -> T:
    """fn()'s first truthy value; fails with `what` once `timeout` seconds have passed without one."""
    deadline = time.monotonic() + timeout
    while not (value := fn()):
        assert time.monotonic() < deadline, f"{what} after {timeout}s"
        time.sleep(interval)
    return value
