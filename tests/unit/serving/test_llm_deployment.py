"""The LLM deployment has one adapter cache size: Serve's multiplexing LRU is sized by serving.max_adapters_per_replica."""

from __future__ import annotations

import inspect

import pytest

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("capacity", [3, 11])
def test_serve_multiplexing_capacity_comes_from_the_setting(capacity):
    from ray.serve._private.utils import _callable_uses_multiplexing

    from clara_ray.config import load_settings
    from deployments.llm import llm_deployment

    settings = load_settings(serving={"max_adapters_per_replica": capacity})
    cls = llm_deployment(settings).func_or_class
    assert _callable_uses_multiplexing(cls)  # Serve sees it when the app is built, before any replica runs
    loader = inspect.getattr_static(cls, "get_adapter")
    assert inspect.getclosurevars(loader).nonlocals["max_num_models_per_replica"] == capacity
