"""Actor plumbing: call an actor like a local async object; get the deployment's one detached instance of an actor."""

from __future__ import annotations


class ActorBackend:
    def __init__(self, actor):
        self._actor = actor

    def __getattr__(self, name: str):
        method = getattr(self._actor, name)

        async def call(*args, **kwargs):
            return await method.remote(*args, **kwargs)

        return call


def detached_singleton(actor_cls, name: str, settings):
    """The one named, detached instance of `actor_cls` in the deployment's namespace (created on first use), ready."""
    import ray

    actor = actor_cls.options(name=name, namespace=settings.ray.namespace, lifetime="detached",
                              get_if_exists=True).remote(settings.model_dump(mode="json"))
    ray.get(actor.ready.remote())
    return actor
