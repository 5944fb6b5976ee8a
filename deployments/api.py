"""API ingress deployment: the FastAPI app from clara_ray.api, backed by the detached job-manager actor."""

from __future__ import annotations

from ray import serve

from actors.job_manager import get_or_create_job_manager
from clara_ray.api.app import attach, build_app
from clara_ray.config import settings_from_dict

app = build_app()


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
@serve.ingress(app)
class ClaraApi:
    def __init__(self, settings: dict):
        s = settings_from_dict(settings)
        attach(app, s, jobs=ActorBackend(get_or_create_job_manager(s)))
