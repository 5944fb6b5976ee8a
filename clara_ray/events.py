"""In-memory event log with sequence numbers: publishers append, WebSocket readers long-poll from a sequence."""

from __future__ import annotations

import asyncio
import time
from collections import deque


class EventLog:
    """Bounded, ordered events; `wait(after)` returns as soon as anything newer exists (no polling interval)."""

    def __init__(self, maxlen: int = 20000):
        self._events: deque[dict] = deque(maxlen=maxlen)
        self._seq = 0
        self._cond: asyncio.Condition | None = None

    def _condition(self) -> asyncio.Condition:
        # Created lazily inside the running loop (Ray async actors create the loop after __init__).
        if self._cond is None:
            self._cond = asyncio.Condition()
        return self._cond

    @property
    def last_seq(self) -> int:
        return self._seq

    async def publish(self, type_: str, data: dict) -> dict:
        self._seq += 1
        event = {"seq": self._seq, "type": type_, "time": time.time(), "data": data}
        self._events.append(event)
        cond = self._condition()
        async with cond:
            cond.notify_all()
        return event

    def since(self, after: int, limit: int = 1000) -> list[dict]:
        if not self._events or after >= self._seq:
            return []
        first = self._events[0]["seq"]
        start = max(0, after + 1 - first)
        return list(self._events)[start : start + limit]

    async def wait(self, after: int, timeout: float = 15.0, limit: int = 1000) -> list[dict]:
        """Events with seq > after; waits up to `timeout` for the first one."""
        events = self.since(after, limit)
        if events:
            return events
        cond = self._condition()
        try:
            async with cond:
                await asyncio.wait_for(cond.wait_for(lambda: self._seq > after), timeout)
        except asyncio.TimeoutError:
            return []
        return self.since(after, limit)
