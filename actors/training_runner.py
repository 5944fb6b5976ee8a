"""Per-job Ray actor: runs one TrainingPipeline job (Ray Data + Ray Train) and keeps its outcome for whoever waits.

Detached and named `clara-train-<job_id>`, so a restarted job manager can find and re-attach to it;
killing it (cancel, timeout) kills the Ray Train controller and workers it owns.
"""

from __future__ import annotations

import threading

import ray

from clara_ray.config import settings_from_dict
from clara_ray.training.pipeline import TrainingPipeline
from clara_ray.training.spec import TrainingJobRequest

RUNNER_PREFIX = "clara-train-"


@ray.remote(num_cpus=0, max_restarts=0, max_concurrency=4)
class TrainingRunner:
    def __init__(self, settings: dict, manager_name: str | None, namespace: str):
        self.settings = settings_from_dict(settings)
        self.manager_name, self.namespace = manager_name, namespace
        self._done = threading.Event()
        self._result: dict | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def start(self, job_id: str, request: dict) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, args=(job_id, request), daemon=True)
            self._thread.start()

    def _run(self, job_id: str, request: dict) -> None:
        manager = None
        if self.manager_name:
            try:
                manager = ray.get_actor(self.manager_name, namespace=self.namespace)
            except ValueError:
                pass

        def forward(event: dict) -> None:
            if manager is not None:
                manager.on_progress.remote(job_id, [event])

        try:
            req = TrainingJobRequest.model_validate(request)
            res = TrainingPipeline(self.settings).run(job_id, req, progress_actor=self.manager_name,
                                                      namespace=self.namespace, on_event=forward)
            self._result = res.__dict__
        except BaseException as e:  # noqa: BLE001 - reported to the manager through wait()
            self._error = e
        finally:
            self._done.set()

    def wait(self) -> dict:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._result


class RayRunHandle:
    def __init__(self, actor):
        self.actor = actor

    async def result(self) -> dict:
        try:
            return await self.actor.wait.remote()
        finally:
            self._kill()

    async def cancel(self) -> None:
        self._kill()

    def _kill(self) -> None:
        try:
            ray.kill(self.actor, no_restart=True)
        except Exception:  # noqa: BLE001 - already gone
            pass


class RayLauncher:
    """Starts each job in its own detached TrainingRunner actor."""

    def __init__(self, settings: dict, manager_name: str | None, namespace: str):
        self.settings, self.manager_name, self.namespace = settings, manager_name, namespace

    def launch(self, job_id: str, request: dict) -> RayRunHandle:
        actor = TrainingRunner.options(
            name=RUNNER_PREFIX + job_id, namespace=self.namespace, lifetime="detached", get_if_exists=True
        ).remote(self.settings, self.manager_name, self.namespace)
        actor.start.remote(job_id, request)
        return RayRunHandle(actor)

    def reattach(self, job_id: str) -> RayRunHandle | None:
        try:
            return RayRunHandle(ray.get_actor(RUNNER_PREFIX + job_id, namespace=self.namespace))
        except ValueError:
            return None
