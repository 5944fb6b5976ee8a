"""The learning loop as its callers see it (API routes, the CLI, the console's backend): one typed interface, served
in-process by `InProcessLearning` (unit tests) or by the detached learning-buffer actor through actors/clients.py."""

from __future__ import annotations

from typing import Protocol, Sequence

from clara_ray.learning.feedback import FeedbackResult, FeedbackSample
from clara_ray.learning.loop import LearningLoop


class LearningControl(Protocol):
    async def add_feedback(self, items: list[FeedbackSample], caller: str | None = None,
                           item_keys: Sequence[str | None] | None = None) -> list[FeedbackResult]:
        """Store and acknowledge feedback (see LearningBuffer.add); `caller` and `item_keys` let a retried request be
        answered as stored."""
        ...

    async def stats(self) -> dict: ...
    async def cycles(self, alias: str | None = None, limit: int = 50) -> list[dict]: ...
    async def cycle(self, cycle_id: str) -> dict: ...
    async def trigger(self, alias: str) -> dict: ...
    async def end_canary(self, alias: str, promote: bool, by: str | None = None) -> dict:
        """Promote or roll back the alias's running canary now (learning/canary.py); NoCanary without one."""
        ...

    async def wait_events(self, after: int, timeout: float = 15.0) -> list[dict]: ...
    async def last_seq(self) -> int: ...


class InProcessLearning:
    """LearningControl over a LearningLoop in this process."""

    def __init__(self, loop: LearningLoop):
        self.loop = loop

    async def add_feedback(self, items: list[FeedbackSample], caller: str | None = None,
                           item_keys: Sequence[str | None] | None = None) -> list[FeedbackResult]:
        return await self.loop.add(items, caller=caller, item_keys=item_keys)

    async def stats(self) -> dict:
        return self.loop.stats()

    async def cycles(self, alias: str | None = None, limit: int = 50) -> list[dict]:
        return self.loop.cycles(alias, limit)

    async def cycle(self, cycle_id: str) -> dict:
        return self.loop.cycle(cycle_id)

    async def trigger(self, alias: str) -> dict:
        return await self.loop.trigger(alias)

    async def end_canary(self, alias: str, promote: bool, by: str | None = None) -> dict:
        return await self.loop.end_canary(alias, promote, by)

    async def wait_events(self, after: int, timeout: float = 15.0) -> list[dict]:
        return await self.loop.events.wait(after, timeout)

    async def last_seq(self) -> int:
        return self.loop.events.last_seq
