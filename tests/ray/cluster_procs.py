"""`ray start` nodes of a test's own, as processes on this machine: every port free (Redis holds 6379 here, the
session's cluster holds Ray's defaults), each node with its own environment, started like a user would from the
activated venv, and stopped together with the processes it started."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent
# Fixed default ports of a node; one left at its default collides with another node's (a dashboard agent that cannot
# bind 52365 leaves the head answering "No available agent to submit job").
NODE_PORTS = ("dashboard-agent-listen-port", "dashboard-agent-grpc-port", "runtime-env-agent-port",
              "metrics-export-port", "node-manager-port", "object-manager-port")


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


_PORTS = (20000, _ephemeral_start() - 1)  # above Ray's default worker ports (10002-19999), below the ephemeral range
_handed_out: set[int] = set()


def free_port() -> int:
    """A port free now that nothing else will take before the node binds it: not from the kernel's ephemeral range
    (a port picked there was once taken by some process's outgoing connection before the GCS bound it: "Failed to
    start the grpc server"), and never handed out twice in this process."""
    lo, hi = _PORTS
    for _ in range(500 if hi - lo >= 100 else 0):
        port = random.randint(lo, hi)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    with socket.socket() as s:  # no room below the ephemeral range on this machine: any free port
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_env(**extra: str) -> dict:
    """This process's environment without Ray/CLARA settings of its own, the venv's bin first on PATH (the jobs'
    and workers' `python`), auth off, `extra` on top."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "CLARA_"))}
    env.update(PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", RAY_AUTH_MODE="disabled", HF_HUB_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false")
    return {**env, **extra}


@dataclass
class RayNode:
    """One `ray start --block` process (its own process group); `address` is the head's GCS address."""

    proc: subprocess.Popen
    log: Path
    address: str
    dashboard: str | None = None

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def stop(self) -> None:
        """SIGTERM: `ray start --block` stops the processes it started; SIGKILL to the group if it hangs."""
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        restore_current_cluster()


def restore_current_cluster() -> None:
    """`ray start` made its cluster the machine's current one (/tmp/ray/ray_current_cluster); point it back at the
    session's, whose own processes look their cluster up there (clara_ray/ray_runtime.py init_ray)."""
    import ray

    if ray.is_initialized():
        ray._private.utils.write_ray_address(ray.get_runtime_context().gcs_address)


def start_node(log: Path, env: dict, *, num_cpus: float, head_address: str | None = None,
               resources: dict[str, float] | None = None) -> RayNode:
    """`ray start --head` (head_address None, with a dashboard) or a worker joining `head_address`, on 127.0.0.1."""
    args = [str(BIN / "ray"), "start", "--block", f"--num-cpus={num_cpus}", "--disable-usage-stats",
            "--node-ip-address=127.0.0.1", *(f"--{name}={free_port()}" for name in NODE_PORTS)]
    if resources:
        args.append(f"--resources={json.dumps(resources)}")
    dashboard = None
    if head_address is None:
        port, dash = free_port(), free_port()
        head_address, dashboard = f"127.0.0.1:{port}", f"http://127.0.0.1:{dash}"
        args += ["--head", f"--port={port}", "--include-dashboard=true", "--dashboard-host=127.0.0.1",
                 f"--dashboard-port={dash}", f"--ray-client-server-port={free_port()}"]
    else:
        args.append(f"--address={head_address}")
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return RayNode(proc, log, head_address, dashboard)
