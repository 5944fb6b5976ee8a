"""Live progress from a Train worker to whoever listens: batched, fire-and-forget calls to a named actor."""

from __future__ import annotations

import logging
import time

log = logging.getLogger("clara.progress")


class ProgressSink:
    """Buffers step events and flushes them at most every `interval` s to `actor.on_progress(job_id, events)`.

    With no actor (a job run straight from `jobs.train`), events are only logged. Never blocks
    training: calls are fire-and-forget, and a missing actor just disables forwarding.
    """

    def __init__(self, job_id: str, actor_name: str | None, namespace: str | None, interval: float = 0.25):
        self.job_id, self.interval = job_id, interval
        self._buf: list[dict] = []
        self._last = 0.0
        self._actor = None
        self._pending: list = []  # ObjectRefs of on_progress calls not yet known delivered
        if actor_name:
            import ray

            try:
                self._actor = ray.get_actor(actor_name, namespace=namespace)
            except ValueError:
                log.warning("progress actor %s/%s not found; logging only", namespace, actor_name)

    def emit(self, event: dict, force: bool = False) -> None:
        event = {"time": time.time(), **event}
        self._buf.append(event)
        if event.get("kind") != "step" or event["step"] % 50 == 1:
            log.info("job %s %s", self.job_id, {k: v for k, v in event.items() if k != "time"})
        if force or time.monotonic() - self._last >= self.interval:
            self.flush()

    def flush(self) -> None:
        if self._buf and self._actor is not None:
            self._pending.append(self._actor.on_progress.remote(self.job_id, self._buf))
            if len(self._pending) > 64:  # forget the calls already delivered
                import ray

                done, self._pending = ray.wait(self._pending, num_returns=len(self._pending), timeout=0)
        self._buf = []
        self._last = time.monotonic()

    def close(self, timeout: float = 30.0) -> None:
        """Flush, then return once the actor has taken every event sent (so a job reads as finished only after
        its last progress events are stored)."""
        self.flush()
        if self._pending:
            import ray

            ray.wait(self._pending, num_returns=len(self._pending), timeout=timeout)
            self._pending = []
