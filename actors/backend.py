"""Actor plumbing: the deployment's one detached, versioned instance of an actor, ready (one readiness pattern:
created or attached, then `ready()` awaited; every actor method that can be first after a restart calls it too)."""

from __future__ import annotations

import logging
import time

from actors.versioning import deploy_version

log = logging.getLogger(__name__)


class VersionedActor:
    """Base of the detached singletons: remembers the deploy version (actors.versioning) it was created with."""

    def __init__(self, deploy_version: str):
        self._deploy_version = deploy_version

    def version(self) -> str:
        return self._deploy_version


def _wait_name_released(name: str, namespace: str, timeout: float = 60.0) -> None:
    import ray

    deadline = time.monotonic() + timeout
    while True:
        try:
            ray.get_actor(name, namespace=namespace)
        except ValueError:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"actor {name!r} was killed but its name is still taken after {timeout:.0f} s")
        time.sleep(0.1)


def detached_singleton(actor_cls, name: str, settings, *, replace_stale: bool = True):
    """The one named, detached instance of `actor_cls` in the deployment's namespace (created on first use), ready.

    The actor carries the deploy version (code + settings) it was created with. When the running one has a
    different version and `replace_stale` is set (a deploy), it is killed and recreated from this process's code
    and settings; its durable state lives in the database, from which the new instance rebuilds on `ready()`.
    `replace_stale=False` (a CLI attaching to a running deployment) takes whatever instance is running.
    """
    import ray
    from ray.exceptions import RayActorError

    config = settings.model_dump(mode="json")
    version = deploy_version(config)
    namespace = settings.ray.namespace
    if replace_stale:
        try:
            running = ray.get_actor(name, namespace=namespace)
        except ValueError:
            running = None
        if running is not None:
            try:
                current = ray.get(running.version.remote(), timeout=60)
            except (RayActorError, AttributeError):  # dead, or created by code without versions
                current = None
            if current != version:
                log.info("replacing actor %s: running version %s, this deploy %s", name, current, version)
                ray.kill(running, no_restart=True)
                _wait_name_released(name, namespace)
    actor = actor_cls.options(name=name, namespace=namespace, lifetime="detached",
                              get_if_exists=True).remote(config, version)
    ray.get(actor.ready.remote())
    return actor
