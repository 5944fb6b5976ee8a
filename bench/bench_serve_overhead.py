"""Benchmark: p50 latency of a 1-token generation through the Serve HTTP path vs a direct in-process engine call.

Run: `python -m bench.bench_serve_overhead` (starts its own local Ray + Serve app in a temp dir).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

N = 200
PROMPT = "<|begin_of_text|><|user|>Brauche ich eine Baugenehmigung?<|end_of_text|><|assistant|>"


def main() -> None:
    import httpx
    import ray
    from ray import serve

    from clara_ray.adapters.registry import AdapterRegistry
    from clara_ray.adapters.store import AdapterStore
    from clara_ray.config import load_settings
    from clara_ray.db.engine import Database
    from clara_ray.ray_runtime import init_ray
    from clara_ray.serving.batched_engine import BatchedEngine
    from clara_ray.serving.engine import GenerationRequest
    from clara_ray.serving.testing import build_random_lora
    from clara_ray.training.pipeline import base_model_id, base_model_path
    from deployments.app import build

    root = tempfile.mkdtemp(prefix="clara-bench-")
    overrides = {"storage": {"data_dir": root}, "router": {"use_embeddings": False}}
    settings = load_settings(**overrides)
    base = base_model_path(settings)
    folder = build_random_lora(base, os.path.join(root, "lora"), r=16, lora_alpha=32, seed=1)
    reg = AdapterRegistry(Database(settings.storage.database_url))
    store = AdapterStore.for_storage(settings.storage)
    reg.activate(reg.register(name="bench", uri=store.put(folder, "bench", "v1id"), version_id="v1id",
                              base_model=base_model_id(base), trainer_type="LORA", rank=16).id)

    # Direct: the same engine class, same adapter, in this process.
    engine = BatchedEngine(base, max_adapters=8)
    engine.load_adapter("v1id", str(folder))

    async def direct() -> list[float]:
        out = []
        for _ in range(N):
            t = time.perf_counter()
            await engine.generate(GenerationRequest(prompt=PROMPT, adapter="v1id", max_tokens=1))
            out.append(time.perf_counter() - t)
        return out

    d = asyncio.run(direct())

    init_ray(settings, include_dashboard=False)
    serve.start(http_options={"host": "127.0.0.1", "port": 8012})
    serve.run(build(overrides), name="clara", route_prefix="/")
    h = []
    with httpx.Client(base_url="http://127.0.0.1:8012", timeout=60) as c:
        for i in range(N + 20):
            t = time.perf_counter()
            r = c.post("/api/serving/generate", json={"prompt": PROMPT, "adapter": "bench", "max_tokens": 1})
            r.raise_for_status()
            if i >= 20:  # first requests load the adapter and warm the path
                h.append(time.perf_counter() - t)
    serve.shutdown()
    ray.shutdown()
    pd, ph = statistics.median(d) * 1000, statistics.median(h) * 1000
    print(f"1-token generation, p50 of {N}: direct engine {pd:.1f} ms, Serve HTTP path {ph:.1f} ms, "
          f"overhead {ph - pd:.1f} ms (p90 HTTP {sorted(h)[int(0.9 * N)] * 1000:.1f} ms)")


if __name__ == "__main__":
    main()
