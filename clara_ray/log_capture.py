"""Send a process's stdout/stderr (and so the Ray, Serve and library logs it relays) to a file, keeping the terminal."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TextIO


def capture_to_file(log_path: Path) -> TextIO:
    """Point file descriptors 1 and 2 at `log_path` (truncated) and return a stream on the original terminal.

    Working on the descriptors, not on sys.stdout, catches everything: Python logging and warnings, C-level
    output, child processes started afterwards (they inherit the descriptors) and the worker logs Ray
    forwards to the driver (`log_to_driver`).
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    terminal = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8", errors="replace")
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
    finally:
        os.close(fd)
    return terminal
