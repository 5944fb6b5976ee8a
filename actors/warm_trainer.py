"""Warm trainer actors: long-lived and named, each holding the base model (clara_ray/training/warm.py). The job
manager creates and owns them (not detached: they die with it, so a replaced, killed or restarted manager leaves no
warm trainer holding CPUs behind, and its successor builds a fresh pool); it routes jobs to them, and the learning
buffer finds them by name for its evaluations."""

from __future__ import annotations

import logging

import ray

from actors.backend import VersionedActor, _wait_name_released
from actors.training_runner import RayLauncher
from actors.versioning import deploy_version
from clara_ray.config import ClaraSettings, settings_from_dict
from clara_ray.db.engine import Database
from clara_ray.learning.evaluator import CycleEvaluation, EvalRequest
from clara_ray.training.progress import ProgressSink
from clara_ray.training.warm import UnknownWarmJob, WarmTrainer, warm_threads
from clara_ray.training.warm_router import WarmRouter

log = logging.getLogger(__name__)
WARM_PREFIX = "clara-warm-trainer-"


@ray.remote(max_restarts=-1, max_task_retries=0, max_concurrency=8)
class WarmTrainerActor(VersionedActor):
    """Loads the base once; jobs run in threads of their own, so `cancel` and `wait` are answered meanwhile."""

    def __init__(self, settings: dict, deploy_version: str):
        import torch

        super().__init__(deploy_version)
        s = settings_from_dict(settings)
        torch.set_num_threads(warm_threads(s))
        self.trainer = WarmTrainer(s)

    def ready(self) -> dict:
        return {"load_seconds": self.trainer.load_seconds, "jobs_run": self.trainer.jobs_run,
                "evaluations_run": self.trainer.evaluations_run}

    def run(self, job_id: str, request: dict, manager_name: str | None, namespace: str) -> dict:
        """Start the job (unless it runs already) and return its result. One call: this actor's methods run in
        a thread pool, so a separate `start` and `wait` could arrive in either order."""
        return self.trainer.run(job_id, request, ProgressSink(job_id, manager_name, namespace))

    def wait(self, job_id: str) -> dict:
        return self.trainer.wait(job_id)

    def cancel(self, job_id: str) -> bool:
        return self.trainer.cancel(job_id)

    def has(self, job_id: str) -> bool:
        return self.trainer.has(job_id)

    def try_evaluate(self, request: EvalRequest) -> CycleEvaluation | None:
        return self.trainer.evaluate(request, wait=False)


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


async def evaluate_warm(settings: ClaraSettings, request: EvalRequest) -> CycleEvaluation | None:
    """A cycle's evaluation on the first idle warm trainer (it holds the base); None when the pool is off, gone or
    busy, and the caller runs its own evaluation task."""
    for i in range(settings.training.warm_pool_size):
        try:
            actor = ray.get_actor(WARM_PREFIX + str(i), namespace=settings.ray.namespace)
        except ValueError:
            continue
        try:
            result = await actor.try_evaluate.remote(request)
        except ray.exceptions.RayActorError:  # died meanwhile (its errors from the evaluation itself propagate)
            continue
        if result is not None:
            return result
    return None


__all__ = ["RayWarmPool", "UnknownWarmJob", "WarmTrainerActor", "WARM_PREFIX", "evaluate_warm", "job_launcher"]
