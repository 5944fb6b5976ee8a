"""Call a Ray actor like a local async object: `await backend.method(...)` -> `await actor.method.remote(...)`."""

from __future__ import annotations


class ActorBackend:
    def __init__(self, actor):
        self._actor = actor

    def __getattr__(self, name: str):
        method = getattr(self._actor, name)

        async def call(*args, **kwargs):
            return await method.remote(*args, **kwargs)

        return call
