"""Connecting to Ray the same way everywhere: explicit auth mode, namespace, and the repo as working_dir."""

from __future__ import annotations

import os
from pathlib import Path

from clara_ray.config import ClaraSettings

REPO_ROOT = Path(__file__).resolve().parent.parent


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


def init_ray(settings: ClaraSettings, **kwargs):
    """ray.init for drivers (demo, jobs, tests) with the project's runtime env; no-op when already connected."""
    import ray

    set_auth_mode(settings)
    if ray.is_initialized():
        return ray.get_runtime_context()
    # Under `ray job submit` RAY_ADDRESS names the cluster; never start a second one then.
    address = settings.ray.address or os.environ.get("RAY_ADDRESS")
    args = dict(namespace=settings.ray.namespace, runtime_env=runtime_env(), log_to_driver=True)
    if address is None:
        args["num_cpus"] = settings.ray.num_cpus
    else:
        args["address"] = address
    args.update(kwargs)
    return ray.init(**args)
