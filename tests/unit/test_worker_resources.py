"""training.worker_resources: parsed from env like any field, only custom resources, carried into every job's plan."""

from __future__ import annotations

import pytest

from clara_ray.config import ConfigError, load_settings
from clara_ray.training.spec import TrainingJobRequest, resolve_plan


def test_env_value_reaches_the_plan(settings, monkeypatch, tmp_path):
    monkeypatch.setenv("CLARA_TRAINING__WORKER_RESOURCES", '{"trainer": 1}')
    s = load_settings(storage={"data_dir": tmp_path / "clara"})
    assert s.training.worker_resources == {"trainer": 1.0}
    plan = resolve_plan("j1", TrainingJobRequest(name="bau", data_paths=["x.jsonl"]), s, base_model_path="tiny")
    assert plan.worker_resources == {"trainer": 1.0}
    assert resolve_plan("j2", TrainingJobRequest(name="bau", data_paths=["x.jsonl"]), settings,
                        base_model_path="tiny").worker_resources == {}  # default: no pinning


@pytest.mark.parametrize("value, message", [
    ({"CPU": 1}, "['CPU'] are not custom resources: set cpus_per_worker"),
    ({"GPU": 1, "trainer": 1}, "['GPU'] are not custom resources"),
    ({"trainer": 0}, "every amount must be above 0"),
])
def test_builtin_resources_and_empty_amounts_are_refused(settings, value, message):
    with pytest.raises(ConfigError) as e:
        load_settings(training={"worker_resources": value})
    assert "training.worker_resources" in str(e.value) and message in str(e.value)
