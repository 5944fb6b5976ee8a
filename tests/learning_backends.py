"""The learning backend as the API sees it (actors/learning_buffer.py's methods), over a LearningLoop in this process."""

from __future__ import annotations

from clara_ray.learning.feedback import FeedbackResult, FeedbackSample
from clara_ray.learning.loop import LearningLoop


class InProcessLearning:
    """add_feedback takes dicts, as the actor does over Ray, and answers typed results."""

    def __init__(self, loop: LearningLoop):
        self.loop = loop

    async def add_feedback(self, items: list[dict], caller: str | None = None,
                           item_keys: list[str | None] | None = None) -> list[FeedbackResult]:
        return await self.loop.add([FeedbackSample.model_validate(i) for i in items], caller=caller,
                                   item_keys=item_keys)

    async def stats(self) -> dict:
        return self.loop.stats()

    async def cycles(self, alias: str | None = None, limit: int = 50) -> list[dict]:
        return self.loop.cycles(alias, limit)

    async def trigger(self, alias: str) -> dict:
        return await self.loop.trigger(alias)
