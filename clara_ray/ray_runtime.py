"""Connecting to Ray the same way everywhere: explicit auth mode, namespace, the repo as working_dir (unless a job's
runtime env already carries it), a fresh local cluster or a named one that must answer."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from clara_ray.config import ClaraSettings

REPO_ROOT = Path(__file__).resolve().parent.parent
JOB_CONFIG_ENV = "RAY_JOB_CONFIG_JSON_ENV_VAR"  # set by Ray in the driver of a `ray job submit` entrypoint
CURRENT_CLUSTER_FILE = Path("/tmp/ray/ray_current_cluster")  # where `ray start --head` records its address


class RayClusterUnavailable(ConnectionError):
    """`ray.address` names a cluster (or "auto") and nothing answers there."""


def set_auth_mode(settings: ClaraSettings) -> None:
    """Ray 2.60 turns token auth on by default; we choose: `ray.auth_mode` unless RAY_AUTH_MODE is already set."""
    os.environ.setdefault("RAY_AUTH_MODE", settings.ray.auth_mode)


def runtime_env() -> dict:
    """Workers and replicas import clara_ray/actors/jobs from the repo (they do not see the driver's sys.path)."""
    return {
        "working_dir": str(REPO_ROOT),
        "excludes": [".venv", ".git", ".clara", "var", "test-artifacts", "**/__pycache__", "*.db"],
        "env_vars": {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"},
    }


def job_runtime_env() -> dict | None:
    """The runtime env of the `ray job submit` job this driver runs in, or None outside a job."""
    raw = os.environ.get(JOB_CONFIG_ENV)
    if raw is None:
        return None
    try:
        return json.loads(raw).get("runtime_env") or {}
    except (ValueError, AttributeError):
        return {}


def driver_runtime_env() -> dict | None:
    """What this driver passes to ray.init: the project's runtime env, or under a job only the keys the job did not
    set (Ray refuses to merge a second working_dir into the job's: "Failed to merge the Job's runtime env")."""
    job = job_runtime_env()
    if job is None:
        return runtime_env()
    extra = {k: v for k, v in runtime_env().items() if k not in job and k not in ("working_dir", "excludes")}
    return extra or None


def _gcs_address(address: str) -> str | None:
    """host:port of the cluster `address` means ("auto": RAY_ADDRESS, then the one `ray start` recorded)."""
    if address == "auto":
        address = os.environ.get("RAY_ADDRESS") or (
            CURRENT_CLUSTER_FILE.read_text().strip() if CURRENT_CLUSTER_FILE.is_file() else "")
        if not address or address == "auto":
            return None
    if "://" in address:  # ray://host:port (Ray Client) or another scheme: Ray checks it itself
        return address.split("://", 1)[1] if address.startswith("ray://") else address
    return address


def check_cluster_answers(address: str, timeout: float = 3.0) -> None:
    """Fail fast, with what to do, when no Ray cluster answers at `address` (ray.init would retry for minutes)."""
    target = _gcs_address(address)
    hint = ("start one with `ray start --head --port <free port>` from the activated environment, or set "
            "ray.address to null for a local cluster")
    if target is None:
        raise RayClusterUnavailable(f"ray.address is {address!r} but no running Ray cluster is recorded; {hint}")
    host, _, port = target.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            return
    except (OSError, ValueError):
        raise RayClusterUnavailable(f"no Ray cluster answers at {target} (ray.address {address!r}); {hint}") from None


def init_ray(settings: ClaraSettings, **kwargs):
    """ray.init for drivers (demo, jobs, tests); no-op when already connected.

    `ray.address` null (and no RAY_ADDRESS, as `ray job submit` sets): a fresh local cluster (`address="local"`),
    whatever a dead `ray start` left in /tmp/ray. An address or "auto": that cluster, checked to answer first."""
    import ray

    set_auth_mode(settings)
    if ray.is_initialized():
        return ray.get_runtime_context()
    address = settings.ray.address or os.environ.get("RAY_ADDRESS")
    args = dict(namespace=settings.ray.namespace, log_to_driver=True)
    env = driver_runtime_env()
    if env:
        args["runtime_env"] = env
    if address is None:
        args.update(address="local", num_cpus=settings.ray.num_cpus)
    else:
        check_cluster_answers(address)
        args["address"] = address
    args.update(kwargs)
    context = ray.init(**args)
    if address is None:
        # Register the fresh cluster as the machine's current one, as `ray start` does. Ray's own processes find
        # "their" cluster through that file when they use the State API (Ray Train's placement-group cleaner, which
        # frees a killed run's workers' CPUs); a file left by a dead `ray start` would send them there and they would
        # never free anything (a cancelled sweep kept its trials' CPUs).
        ray._private.utils.write_ray_address(context.address_info["gcs_address"])
    return context
