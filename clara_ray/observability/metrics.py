"""CLARA metrics via ray.util.metrics (exported by every Ray node's metrics endpoint with the prefix `ray_`).

Call the small functions below from any process (driver, actor, Train worker, Serve replica). They are no-ops
when Ray is not initialised in the process (unit tests) and never raise into the caller.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from contextlib import contextmanager
from typing import Iterator

log = logging.getLogger("clara.metrics")

TRAINING_DURATION_BUCKETS = [60, 120, 300, 600, 900, 1200, 1800, 2700, 3600, 5400, 7200]
REQUEST_LATENCY_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
SEARCH_LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

# key: (kind, name, description, tag keys, histogram buckets). Counters are exported with the suffix _total.
SPECS: dict[str, tuple[str, str, str, tuple[str, ...], list[float] | None]] = {
    "jobs": ("counter", "clara_training_jobs", "Training jobs finished, by final status and trainer type",
             ("status", "trainer_type"), None),
    "active": ("gauge", "clara_active_training_jobs", "Training jobs running now", (), None),
    "buffer": ("gauge", "clara_learning_buffer_size", "Feedback samples waiting in the learning buffer",
               ("alias",), None),
    "duration": ("histogram", "clara_training_duration_seconds", "Wall time of finished training jobs",
                 ("trainer_type",), TRAINING_DURATION_BUCKETS),
    "requests": ("counter", "clara_adapter_requests", "Generation requests per adapter and outcome",
                 ("adapter", "outcome"), None),
    "latency": ("histogram", "clara_adapter_request_latency_seconds", "Generation latency per adapter",
                ("adapter",), REQUEST_LATENCY_BUCKETS),
    "tokens": ("counter", "clara_adapter_generated_tokens", "Tokens generated per adapter", ("adapter",), None),
    "cycles": ("counter", "clara_learning_cycles", "Continuous-learning cycles by gate decision", ("decision",),
               None),
    "search": ("histogram", "clara_search_latency_seconds", "Dataset search latency by search type",
               ("search_type",), SEARCH_LATENCY_BUCKETS),
    "feedback": ("counter", "clara_learning_feedback",
                 "Feedback samples by outcome: queued, held_out (evaluation set), rating_only, rejected, refused_full "
                 "(buffer full, retryable), "
                 "dropped (overflow drop_lowest)", ("outcome",), None),
    "completion_log_dropped": ("counter", "clara_completion_log_dropped",
                               "Generations not stored in the completion log, by reason", ("reason",), None),
}

_metrics: dict[str, object] = {}
_lock = threading.Lock()
_warned = False


def _ray_ready() -> bool:
    ray = sys.modules.get("ray")  # never import Ray just to find out it is not running
    return ray is not None and ray.is_initialized()


def _metric(key: str):
    m = _metrics.get(key)
    if m is None:
        from ray.util import metrics

        kind, name, description, tags, buckets = SPECS[key]
        with _lock:
            m = _metrics.get(key)
            if m is None:
                if kind == "counter":
                    m = metrics.Counter(name, description, tag_keys=tags)
                elif kind == "gauge":
                    m = metrics.Gauge(name, description, tag_keys=tags)
                else:
                    m = metrics.Histogram(name, description, boundaries=buckets, tag_keys=tags)
                _metrics[key] = m
    return m


def _record(key: str, op: str, value: float, **tags: object) -> None:
    global _warned
    if not _ray_ready():
        return
    try:
        getattr(_metric(key), op)(value, tags={k: str(getattr(v, "value", v)) for k, v in tags.items()})
    except Exception:  # noqa: BLE001 - metrics never break the caller
        if not _warned:
            _warned = True
            log.exception("recording metric %s failed (further failures are not logged)", key)


def record_job_finished(status: str, trainer_type: str, seconds: float | None = None) -> None:
    """A job reached a final status (COMPLETED, FAILED, CANCELLED); `seconds` = its running time, if it ran."""
    _record("jobs", "inc", 1, status=status, trainer_type=trainer_type)
    if seconds is not None and seconds >= 0:
        _record("duration", "observe", seconds, trainer_type=trainer_type)


def set_active_jobs(count: int) -> None:
    """Jobs RUNNING now; call from the (single) job manager whenever the number changes."""
    _record("active", "set", count)


def set_learning_buffer_size(size: int, alias: str = "all") -> None:
    """Samples waiting in the learning buffer (per adapter alias, or "all")."""
    _record("buffer", "set", size, alias=alias)


def record_generation(adapter: str, seconds: float, tokens: int = 0, ok: bool = True) -> None:
    """One generation request served by `adapter` ("__base__" for the base model)."""
    _record("requests", "inc", 1, adapter=adapter, outcome="ok" if ok else "error")
    _record("latency", "observe", max(0.0, seconds), adapter=adapter)
    if tokens > 0:
        _record("tokens", "inc", tokens, adapter=adapter)


def record_learning_cycle(decision: str) -> None:
    """A learning cycle ended: promoted, rejected (gate failed, rolled back) or failed."""
    _record("cycles", "inc", 1, decision=decision)


def record_search(search_type: str, seconds: float) -> None:
    """One dataset search (vector, graph, keyword, hybrid) took `seconds`."""
    _record("search", "observe", max(0.0, seconds), search_type=search_type)


def record_feedback(outcome: str, count: int = 1) -> None:
    """Feedback samples that were queued, kept as rating_only, rejected, refused_full or later dropped."""
    if count > 0:
        _record("feedback", "inc", count, outcome=outcome)


def record_completion_log_dropped(reason: str = "queue_full", count: int = 1) -> None:
    """Generations the completion log did not store: `queue_full` (shed) or `write_failed` (database error)."""
    _record("completion_log_dropped", "inc", count, reason=reason)


@contextmanager
def time_search(search_type: str) -> Iterator[None]:
    """`with time_search("hybrid"): ...` records the block's duration."""
    start = time.perf_counter()
    try:
        yield
    finally:
        record_search(search_type, time.perf_counter() - start)
