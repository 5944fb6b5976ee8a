"""CLARA metrics recorded through clara_ray.observability appear on Ray's Prometheus endpoint with sane values."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

pytestmark = [pytest.mark.ray]


def _scrape(url: str) -> list:
    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen(url, timeout=10).read().decode()
    return [s for fam in text_string_to_metric_families(text) for s in fam.samples if "clara_" in s.name]


def _value(samples, name, **labels) -> float | None:
    vals = [s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    return sum(vals) if vals else None


def test_metric_functions_are_noops_without_ray():
    code = ("import sys; from clara_ray.observability import *; record_job_finished('COMPLETED', 'LORA', 90); "
            "set_active_jobs(1); record_generation('a', 0.1, 5); record_search('hybrid', 0.01); "
            "record_learning_cycle('promoted'); set_learning_buffer_size(3); assert 'ray' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.timeout(180)
def test_metrics_reach_rays_prometheus_endpoint(ray_cluster):
    import ray

    from clara_ray import observability as obs

    tt, alias, adapter = f"T{uuid.uuid4().hex[:8]}", f"alias-{uuid.uuid4().hex[:6]}", f"ad-{uuid.uuid4().hex[:6]}"
    me = ray.get_runtime_context().get_worker_id()
    obs.record_job_finished("COMPLETED", tt, 130)
    obs.record_job_finished("FAILED", tt)
    obs.set_active_jobs(2)
    obs.set_learning_buffer_size(17, alias=alias)
    for _ in range(3):
        obs.record_generation(adapter, 0.08, 12)
    obs.record_generation(adapter, 0.4, 0, ok=False)
    obs.record_learning_cycle("promoted")
    with obs.time_search(f"hybrid-{tt}"):
        time.sleep(0.02)

    @ray.remote(num_cpus=0)
    def in_a_worker(trainer_type):  # actors, Train workers and Serve replicas record the same way
        from clara_ray import observability as o

        o.record_job_finished("COMPLETED", trainer_type, 400)

    ray.get(in_a_worker.remote(tt))
    node = next(n for n in ray.nodes() if n["Alive"])
    url = f"http://{node['NodeManagerAddress']}:{node['MetricsExportPort']}/metrics"
    deadline, samples = time.time() + 90, []
    while time.time() < deadline:
        samples = _scrape(url)
        if (_value(samples, "ray_clara_training_jobs_total", trainer_type=tt, status="COMPLETED") == 2
                and _value(samples, "ray_clara_search_latency_seconds_count", search_type=f"hybrid-{tt}")):
            break
        time.sleep(2)
    jobs = "ray_clara_training_jobs_total"
    assert _value(samples, jobs, trainer_type=tt, status="COMPLETED") == 2, sorted({s.name for s in samples})
    assert _value(samples, jobs, trainer_type=tt, status="FAILED") == 1
    dur = "ray_clara_training_duration_seconds"
    assert _value(samples, dur + "_count", trainer_type=tt) == 2
    assert _value(samples, dur + "_bucket", trainer_type=tt, le="120.0") == 0
    assert _value(samples, dur + "_bucket", trainer_type=tt, le="300.0") == 1
    assert _value(samples, dur + "_bucket", trainer_type=tt, le="600.0") == 2
    assert _value(samples, dur + "_bucket", trainer_type=tt, le="7200.0") == 2
    assert _value(samples, "ray_clara_active_training_jobs", WorkerId=me) == 2
    assert _value(samples, "ray_clara_learning_buffer_size", alias=alias) == 17
    assert _value(samples, "ray_clara_adapter_requests_total", adapter=adapter, outcome="ok") == 3
    assert _value(samples, "ray_clara_adapter_requests_total", adapter=adapter, outcome="error") == 1
    assert _value(samples, "ray_clara_adapter_generated_tokens_total", adapter=adapter) == 36
    lat = "ray_clara_adapter_request_latency_seconds"
    assert _value(samples, lat + "_bucket", adapter=adapter, le="0.1") == 3
    assert _value(samples, lat + "_count", adapter=adapter) == 4
    assert _value(samples, "ray_clara_learning_cycles_total", decision="promoted") >= 1
    search = "ray_clara_search_latency_seconds"
    assert _value(samples, search + "_count", search_type=f"hybrid-{tt}") == 1
    assert _value(samples, search + "_bucket", search_type=f"hybrid-{tt}", le="0.005") == 0
    assert _value(samples, search + "_bucket", search_type=f"hybrid-{tt}", le="0.05") == 1
