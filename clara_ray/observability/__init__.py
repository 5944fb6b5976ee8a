"""Observability: CLARA's Prometheus metrics recorded through Ray (see clara_ray.observability.metrics)."""

from clara_ray.observability.metrics import (  # noqa: F401
    record_feedback,
    record_generation,
    record_job_finished,
    record_learning_cycle,
    record_search,
    set_active_jobs,
    set_learning_buffer_size,
    time_search,
)
