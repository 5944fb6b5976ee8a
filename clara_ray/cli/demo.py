"""`clara demo`: run the end-to-end demo (`python -m jobs.demo`: local Ray, Serve app, training, closed loop)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Annotated

import typer

from clara_ray.cli.context import fail

DEMO_ENV = {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "RAY_AUTH_MODE": "disabled"}


def demo_command(keep_running: bool, port: int | None) -> list[str]:
    cmd = [sys.executable, "-m", "jobs.demo"]
    if keep_running:
        cmd.append("--keep-running")
    if port is not None:
        cmd += ["--port", str(port)]
    return cmd


def demo_env() -> dict[str, str]:
    """The caller's environment; the demo's defaults (as scripts/demo.sh sets them) where it sets none."""
    return {**DEMO_ENV, **os.environ}


def demo(
    keep_running: Annotated[bool, typer.Option("--keep-running", help="Leave Ray and the API up afterwards "
                                                                      "(Ctrl-C stops them).")] = False,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="HTTP port of the demo's API "
                                                                    "(default from config: 8000).")] = None,
) -> None:
    """Run the demo on this machine: trains an adapter, serves it, retrains from feedback (a few minutes).

    It starts its own local Ray cluster and API (configs/clara.yaml or $CLARA_CONFIG, read from the
    current directory); --url and --token are not used.
    """
    try:
        code = subprocess.call(demo_command(keep_running, port), env=demo_env())
    except OSError as e:
        fail(f"cannot start the demo ({sys.executable} -m jobs.demo): {e}")
    except KeyboardInterrupt:
        code = 130
    if code != 0:
        fail(f"the demo exited with status {code}", code if 0 < code < 256 else 1)
