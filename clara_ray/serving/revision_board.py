"""Revision board: the hub's state and long-poll logic in plain asyncio (the Ray actor wraps it; tests use it as is)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from clara_ray.serving.revisions import (AliasRevision, ControlState, Cursor, PublishReceipt, RouterRevision,
                                         Subscriber, SubscriberView)


@dataclass
class _Follower:
    info: Subscriber
    seq: int = 0  # last seq it confirmed in this epoch
    waiting: bool = False
    last_seen: float = 0.0


class RevisionBoard:
    """Latest alias revisions and router settings, a sequence number bumped on every change, and the replicas
    following it.

    A replica calls `wait(subscriber, cursor)`: it returns the state at once when the replica is behind (or knows
    another epoch), else when the next change comes, or None after `timeout`. Calling `wait` with a cursor also
    confirms that the replica applied everything up to it, so a publish can wait (up to `ack_timeout`) until every
    live replica has applied its change: when `publish_*` returns, those replicas answer with the new state.
    A replica is live while it waits or for `stale_after` seconds after it was last heard from.

    Not thread-safe: one event loop (the actor's, or a test's) drives it.
    """

    def __init__(self, *, stale_after: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.epoch = uuid.uuid4().hex[:12]
        self.seq = 0
        self.aliases: dict[str, AliasRevision] = {}
        self.router: RouterRevision | None = None
        self.stale_after, self._clock = stale_after, clock
        self._followers: dict[str, _Follower] = {}
        self._signal = asyncio.Event()  # replaced after each set: waiters re-check their condition

    def _notify(self) -> None:
        self._signal.set()
        self._signal = asyncio.Event()

    async def _until(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Wait until `condition()` holds (re-checked on every notification) or `timeout`; returns it."""
        deadline = time.monotonic() + timeout
        while not condition():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._signal.wait(), remaining)
            except TimeoutError:
                return condition()
        return True

    def state(self) -> ControlState:
        return ControlState(epoch=self.epoch, seq=self.seq, aliases=dict(self.aliases), router=self.router)

    # ---- publishing ---------------------------------------------------------------------------------------
    async def publish_alias(self, change: AliasRevision, ack_timeout: float) -> PublishReceipt:
        """Record a flip (ignored when an equal or newer revision of the alias is known) and wait for the acks."""
        current = self.aliases.get(change.alias)
        if current is None or change.revision > current.revision:
            self.aliases[change.alias] = change
            await self._bump()
        return await self._await_acks(ack_timeout)

    async def publish_router(self, change: RouterRevision, ack_timeout: float) -> PublishReceipt:
        """Record router settings (ignored unless newer than the known revision) and wait for the acks."""
        if self.router is None or change.revision > self.router.revision:
            self.router = change
            await self._bump()
        return await self._await_acks(ack_timeout)

    async def _bump(self) -> None:
        self.seq += 1
        self._notify()

    def _live(self, f: _Follower) -> bool:
        return f.waiting or self._clock() - f.last_seen < self.stale_after

    async def _await_acks(self, ack_timeout: float) -> PublishReceipt:
        target = self.seq
        expected = [sid for sid, f in self._followers.items() if self._live(f)]

        def behind() -> list[str]:
            return [sid for sid in expected if sid in self._followers and self._followers[sid].seq < target]

        await self._until(lambda: not behind(), ack_timeout)
        pending = behind()
        acked = [sid for sid in expected if sid in self._followers and sid not in pending]
        return PublishReceipt(seq=target, acked=acked, pending=pending)

    # ---- following ----------------------------------------------------------------------------------------
    async def wait(self, subscriber: Subscriber, cursor: Cursor, timeout: float) -> ControlState | None:
        """The state once it is newer than `cursor` (at once for another epoch), or None after `timeout`."""
        f = self._followers.setdefault(subscriber.id, _Follower(subscriber))
        f.info, f.last_seen = subscriber, self._clock()
        f.seq = cursor.seq if cursor.epoch == self.epoch else 0
        self._notify()  # an ack: a publish may be waiting for it
        if cursor.epoch != self.epoch or cursor.seq < self.seq:
            return self.state()
        f.waiting = True
        try:
            changed = await self._until(lambda: self.seq > cursor.seq, timeout)
        finally:
            f.waiting, f.last_seen = False, self._clock()
        return self.state() if changed else None

    async def leave(self, subscriber_id: str) -> None:
        """A replica shutting down: publishes stop waiting for it."""
        self._followers.pop(subscriber_id, None)
        self._notify()

    def subscribers(self) -> list[SubscriberView]:
        return [SubscriberView(id=sid, role=f.info.role, seq=f.seq, router_revision=f.info.router_revision,
                               waiting=f.waiting, live=self._live(f)) for sid, f in self._followers.items()]


class InProcessRevisions:
    """Publisher and source over one board in this process's event loop: the fake the unit tests use.

    `publish_*` are sync (as ServingService calls them) and must be called from a thread other than the loop's."""

    def __init__(self, board: RevisionBoard, loop: asyncio.AbstractEventLoop, ack_timeout: float = 2.0):
        self.board, self.loop, self.ack_timeout = board, loop, ack_timeout

    def publish_alias(self, change: AliasRevision) -> PublishReceipt:
        coro = self.board.publish_alias(change, self.ack_timeout)
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(self.ack_timeout + 5)

    def publish_router(self, change: RouterRevision) -> PublishReceipt:
        coro = self.board.publish_router(change, self.ack_timeout)
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(self.ack_timeout + 5)

    async def wait(self, subscriber: Subscriber, cursor: Cursor, timeout: float) -> ControlState | None:
        return await self.board.wait(subscriber, cursor, timeout)

    async def leave(self, subscriber_id: str) -> None:
        await self.board.leave(subscriber_id)
