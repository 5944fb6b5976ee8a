"""The job manager's pool of warm trainers (actors/warm_trainer.py): created per manager incarnation, asked whether
each holds its base yet, and handed jobs; `job_launcher` puts the pool behind the warm router."""

from __future__ import annotations

import logging

import ray

from actors.backend import _wait_name_released
from actors.training_runner import RayLauncher
from actors.versioning import deploy_version
from actors.warm_trainer import WARM_PREFIX, WarmTrainerActor
from clara_ray.config import ClaraSettings, settings_from_dict
from clara_ray.db.engine import Database
from clara_ray.training.warm_router import WarmRouter

log = logging.getLogger(__name__)


class WarmRunHandle:
    """A job on a warm trainer: `request` set for a job launched here (run it), None after a re-attach (wait)."""

    def __init__(self, actor, job_id: str, request: dict | None = None, manager_name: str | None = None,
                 namespace: str = ""):
        self.actor, self.job_id, self.request = actor, job_id, request
        self.manager_name, self.namespace = manager_name, namespace

    async def result(self) -> dict:
        if self.request is None:
            return await self.actor.wait.remote(self.job_id)
        return await self.actor.run.remote(self.job_id, self.request, self.manager_name, self.namespace)

    async def cancel(self) -> None:
        try:
            await self.actor.cancel.remote(self.job_id)
        except ray.exceptions.RayActorError:  # the worker died; `result` reports it
            pass


class RayWarmPool:
    """This job manager's warm trainers `clara-warm-trainer-<i>`, created without waiting for their model load (the
    first job queues behind it). Built once per manager incarnation (its __init__): a trainer still holding the
    name belongs to a predecessor that is going away with its owner, and is replaced."""

    def __init__(self, settings: dict, manager_name: str | None, namespace: str):
        s = settings_from_dict(settings)
        self.manager_name, self.namespace = manager_name, namespace
        self.size = s.training.warm_pool_size
        version = deploy_version(settings)
        self.actors = [self._create(WARM_PREFIX + str(i), settings, s, version) for i in range(self.size)]
        self._ready = [a.ready.remote() for a in self.actors]  # resolved once a trainer holds its base

    def _create(self, name: str, config: dict, s: ClaraSettings, version: str):
        try:
            left = ray.get_actor(name, namespace=self.namespace)
        except ValueError:
            left = None
        if left is not None:
            log.info("replacing warm trainer %s left by an earlier job manager", name)
            ray.kill(left, no_restart=True)
            _wait_name_released(name, self.namespace)
        return WarmTrainerActor.options(
            name=name, namespace=self.namespace, num_cpus=s.training.warm_worker_cpus,
            num_gpus=s.training.warm_worker_gpus, resources=s.training.worker_resources,
        ).remote(config, version)

    def available(self, index: int) -> bool:
        """Started and holding its base. Until then jobs take the Ray Train path: a trainer that cannot be placed
        (no CPU left for it) must not hold jobs back."""
        if self._ready[index] is None:
            return True
        done, _ = ray.wait([self._ready[index]], timeout=0)
        if not done:
            return False
        try:
            ray.get(done[0])
        except ray.exceptions.RayError:  # died while loading; it restarts (max_restarts) and is asked again
            self._ready[index] = self.actors[index].ready.remote()
            return False
        self._ready[index] = None
        return True

    def launch(self, index: int, job_id: str, request: dict) -> WarmRunHandle:
        return WarmRunHandle(self.actors[index], job_id, request, self.manager_name, self.namespace)

    def reattach(self, index: int, job_id: str) -> WarmRunHandle | None:
        try:
            known = ray.get(self.actors[index].has.remote(job_id), timeout=30)
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
            return None
        return WarmRunHandle(self.actors[index], job_id) if known else None


def job_launcher(config: dict, settings: ClaraSettings, db: Database, manager_name: str):
    """The job manager's launcher: Ray Train runners, behind a router to the warm trainers when the pool is on."""
    cold = RayLauncher(config, manager_name, settings.ray.namespace)
    pool = RayWarmPool(config, manager_name, settings.ray.namespace)
    return WarmRouter(settings, db, cold, pool) if pool.size else cold
