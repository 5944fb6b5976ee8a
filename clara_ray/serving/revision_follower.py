"""Replica side of the revision broadcast: long-poll the hub, hand each alias flip and router change to the replica."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from clara_ray.serving.revisions import (AliasRevision, ControlState, Cursor, ReplicaRole, RouterRevision,
                                         Subscriber)

log = logging.getLogger("clara.revisions")


class RevisionSource(Protocol):
    """Where a replica long-polls: the hub actor's client, or an in-process board in tests."""

    async def wait(self, subscriber: Subscriber, cursor: Cursor, timeout: float) -> ControlState | None: ...
    async def leave(self, subscriber_id: str) -> None: ...


class ReplicaHooks(Protocol):
    """What a replica does with a change; the follower confirms it to the hub once these return."""

    async def alias_moved(self, change: AliasRevision) -> None: ...
    async def router_changed(self, change: RouterRevision) -> None: ...
    async def resynced(self) -> None:
        """A new hub (restart or deploy): changes may have been missed, drop whatever was cached."""


class RevisionFollower:
    """One per replica: a task on the replica's event loop that applies every change the hub announces."""

    def __init__(self, source: RevisionSource, subscriber_id: str, role: ReplicaRole, hooks: ReplicaHooks, *,
                 router_revision: int = 0, poll_seconds: float = 30.0, retry_seconds: float = 1.0):
        self.source, self.id, self.role, self.hooks = source, subscriber_id, role, hooks
        self.router_revision = router_revision
        self.poll_seconds, self.retry_seconds = poll_seconds, retry_seconds
        self.applied: ControlState | None = None
        self._task: asyncio.Task | None = None

    def subscriber(self) -> Subscriber:
        return Subscriber(id=self.id, role=self.role, router_revision=self.router_revision)

    def start(self) -> asyncio.Task:
        """Start following on the running event loop (call from the replica's constructor or an async method)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name=f"revisions-{self.id}")
        return self._task

    def cancel(self) -> None:
        """Stop following (sync, for a replica's destructor); the replica should also leave the hub."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def stop(self) -> None:
        """Stop following and leave the hub, so that publishes stop waiting for this replica."""
        self.cancel()
        try:
            await self.source.leave(self.id)
        except Exception:  # noqa: BLE001 - the hub is gone: nobody waits for us anyway
            pass

    async def run(self) -> None:
        cursor = Cursor()
        while True:
            try:
                state = await self.source.wait(self.subscriber(), cursor, self.poll_seconds)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - hub restarting or replaced: retry; the alias TTL covers the gap
                log.warning("revision hub unreachable (%s); retrying in %.1f s", type(e).__name__, self.retry_seconds)
                await asyncio.sleep(self.retry_seconds)
                continue
            if state is not None:
                await self.apply(state)
                cursor = state.cursor()

    async def apply(self, state: ControlState) -> None:
        """Hand the replica each alias that moved since the last state it applied, and newer router settings."""
        prev = self.applied
        fresh = prev is None or prev.epoch != state.epoch
        if fresh:  # first contact or a new hub: whatever is cached may predate changes this replica never saw
            await self._call(self.hooks.resynced())
        else:
            for alias, change in state.aliases.items():
                if prev.aliases.get(alias) != change:
                    await self._call(self.hooks.alias_moved(change))
        if state.router is not None and state.router.revision > self.router_revision:
            await self._call(self.hooks.router_changed(state.router))
            self.router_revision = state.router.revision
        self.applied = state

    @staticmethod
    async def _call(coro) -> None:
        try:
            await coro
        except Exception as e:  # noqa: BLE001 - one failed hook must not stop the replica from following
            log.warning("applying a revision failed: %s", e, exc_info=e)
