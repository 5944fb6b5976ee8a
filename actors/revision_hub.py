"""Detached revision hub actor: alias flips and router settings broadcast to every API and LLM replica by long-poll."""

from __future__ import annotations

import logging
import time

import ray
from ray.exceptions import RayActorError

from actors.versioning import code_version
from clara_ray.serving.revision_board import RevisionBoard
from clara_ray.serving.revisions import (HUB_NAME, AliasRevision, ControlState, Cursor, PublishReceipt,
                                         RouterRevision, Subscriber, SubscriberView)

log = logging.getLogger(__name__)


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=0, max_concurrency=1000)
class RevisionHubActor:
    """Holds no durable state: a restart starts a new epoch, and every follower then resyncs from the database."""

    def __init__(self, version: str, stale_after: float):
        self._version = version
        self.board = RevisionBoard(stale_after=stale_after)

    async def ready(self) -> bool:
        return True

    async def version(self) -> str:
        return self._version

    async def publish_alias(self, change: AliasRevision, ack_timeout: float) -> PublishReceipt:
        return await self.board.publish_alias(change, ack_timeout)

    async def publish_router(self, change: RouterRevision, ack_timeout: float) -> PublishReceipt:
        return await self.board.publish_router(change, ack_timeout)

    async def wait(self, subscriber: Subscriber, cursor: Cursor, timeout: float) -> ControlState | None:
        return await self.board.wait(subscriber, cursor, timeout)

    async def leave(self, subscriber_id: str) -> None:
        await self.board.leave(subscriber_id)

    async def state(self) -> ControlState:
        return self.board.state()

    async def subscribers(self) -> list[SubscriberView]:
        return self.board.subscribers()


def get_or_create_revision_hub(namespace: str, *, stale_after: float = 60.0, timeout: float = 60.0):
    """The namespace's one hub, created on first use; one running older code (a deploy) is replaced.

    Versioned by code only: it takes no settings, so apps with different settings in one namespace share it.
    Safe when several replicas start at once: whoever finds a stale hub kills it, everyone re-reads the name."""
    version = f"code-{code_version()[:12]}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            hub = ray.get_actor(HUB_NAME, namespace=namespace)
        except ValueError:
            hub = RevisionHubActor.options(name=HUB_NAME, namespace=namespace, lifetime="detached",
                                           get_if_exists=True).remote(version, stale_after)
        try:
            running = ray.get(hub.version.remote(), timeout=30)
        except RayActorError:  # killed by another replica a moment ago: its name is being released
            running = None
        if running == version:
            return hub
        if time.monotonic() > deadline:
            raise TimeoutError(f"no current {HUB_NAME} actor in {namespace!r} after {timeout:.0f} s")
        if running is not None:
            log.info("replacing revision hub: running %s, this deploy %s", running, version)
            ray.kill(hub, no_restart=True)
        time.sleep(0.1)
