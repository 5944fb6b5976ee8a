"""Warm trainer actors: long-lived and named, each holding the base model (clara_ray/training/warm.py). The job
manager creates and owns them (not detached: they die with it, so a replaced, killed or restarted manager leaves no
warm trainer holding CPUs behind, and its successor builds a fresh pool, actors/warm_pool.py); it routes jobs to
them, and the learning buffer finds them by name for its evaluations."""

from __future__ import annotations

import ray

from actors.backend import VersionedActor
from clara_ray.config import ClaraSettings, settings_from_dict
from clara_ray.learning.evaluator import CycleEvaluation, EvalRequest
from clara_ray.training.progress import ProgressSink
from clara_ray.training.warm import UnknownWarmJob, WarmTrainer, warm_threads

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


__all__ = ["UnknownWarmJob", "WarmTrainerActor", "WARM_PREFIX", "evaluate_warm"]
