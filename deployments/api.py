"""API ingress deployment: the FastAPI app from clara_ray.api, backed by the detached job-manager actor."""

from __future__ import annotations

from ray import serve

from actors.job_manager import get_or_create_job_manager
from clara_ray.api.app import build_app
from clara_ray.config import settings_from_dict


class ActorBackend:
    """Turns `await backend.method(...)` into `await actor.method.remote(...)`."""

    def __init__(self, actor):
        self._actor = actor

    def __getattr__(self, name: str):
        method = getattr(self._actor, name)

        async def call(*args, **kwargs):
            return await method.remote(*args, **kwargs)

        return call


@serve.deployment(name="ClaraApi", ray_actor_options={"num_cpus": 0.1})
@serve.ingress()
class ClaraApi:
    def __init__(self, settings: dict):
        self.settings = settings_from_dict(settings)
        self.jobs = ActorBackend(get_or_create_job_manager(self.settings))

    def __serve_build_asgi_app__(self):
        # Built per replica after __init__, so routes see this replica's backends (Serve freezes a module-level app).
        return build_app(self.settings, jobs=self.jobs)
