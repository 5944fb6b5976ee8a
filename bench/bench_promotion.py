"""Benchmark: alias flip -> every replica answering with the new version, pushed (revision hub) vs TTL-only.

Run: `python -m bench.bench_promotion [--flips 20] [--llm-replicas 4] [--api-replicas 2]` (starts its own local Ray
+ Serve app in a temp dir, alias TTL at the shipped default). While 4 client threads keep asking for the alias,
the alias is flipped back and forth, alternating two ways:
  event:    POST /api/serving/activate_adapter (published to the hub; returns once every replica applied it)
  TTL-only: the registry row is flipped directly, as before this change (replicas notice when their cache expires)
Settle time of a flip = send time of the last request that still got the old version, minus the flip time
(0 when none did); its resolution is the spacing of the client's requests (tens of ms). Each flip waits a random
0..TTL first, so the TTL-only figure is not biased by the cache entry's age at the flip.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import threading
import time

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

PROMPT = "<|begin_of_text|><|user|>Brauche ich eine Baugenehmigung?<|end_of_text|><|assistant|>"


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


class Load:
    """Client threads asking for the alias without pause; every answer kept as (send time, version)."""

    def __init__(self, url: str, threads: int = 4):
        import httpx

        self.answers: list[tuple[float, str]] = []
        self.errors = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()

        def loop():
            with httpx.Client(base_url=url, timeout=60) as c:
                while not self._stop.is_set():
                    sent = time.perf_counter()
                    r = c.post("/api/serving/generate", json={"prompt": PROMPT, "adapter": "bench", "max_tokens": 1})
                    with self._lock:
                        if r.status_code == 200:
                            self.answers.append((sent, r.json()["model"]))
                        else:
                            self.errors += 1

        self._threads = [threading.Thread(target=loop, daemon=True) for _ in range(threads)]
        for t in self._threads:
            t.start()

    def since(self, t0: float) -> list[tuple[float, str]]:
        with self._lock:
            return [a for a in self.answers if a[0] >= t0]

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)


def settle(load: Load, t0: float, new: str, window: float) -> float:
    """Seconds from the flip to the last request that still got the old version, watched for `window` seconds."""
    deadline = t0 + window
    while time.perf_counter() < deadline:
        time.sleep(0.05)
    old = [sent for sent, model in load.since(t0) if model != new]
    return max(old) - t0 if old else 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--flips", type=int, default=20, help="flips per mode")
    ap.add_argument("--llm-replicas", type=int, default=4)
    ap.add_argument("--api-replicas", type=int, default=1, help="more than 1 needs a non-embedded graph store")
    args = ap.parse_args()

    import httpx
    import ray
    from ray import serve

    from clara_ray.adapters.registry import AdapterRegistry
    from clara_ray.adapters.store import AdapterStore
    from clara_ray.config import load_settings
    from clara_ray.db.engine import Database
    from clara_ray.ray_runtime import init_ray
    from clara_ray.serving.revision_client import RayRevisionClient
    from clara_ray.serving.testing import build_random_lora
    from clara_ray.training.pipeline import base_model_id, base_model_path
    from deployments.api import ClaraApi
    from deployments.llm import llm_deployment

    root = tempfile.mkdtemp(prefix="clara-bench-promo-")
    settings = load_settings(storage={"data_dir": root}, router={"use_embeddings": False},
                             ray={"num_cpus": 2, "namespace": "clara-bench-promotion"})
    ttl = settings.serving.alias_ttl_seconds
    base = base_model_path(settings)
    reg = AdapterRegistry(Database(settings.storage.database_url))
    store = AdapterStore.for_storage(settings.storage)
    ids = {}
    for v in (1, 2):
        folder = build_random_lora(base, os.path.join(root, f"lora{v}"), r=8, lora_alpha=16, seed=v)
        row = reg.register(name="bench", uri=store.put(folder, "bench", f"benchv{v}"), version_id=f"benchv{v}",
                           base_model=base_model_id(base), trainer_type="LORA", rank=8)
        ids[f"bench@v{row.version}"] = row.id
    reg.activate(ids["bench@v1"])

    init_ray(settings, include_dashboard=False)
    serve.start(http_options={"host": "127.0.0.1", "port": 8013})
    data = settings.model_dump(mode="json")
    llm = llm_deployment(settings).options(num_replicas=args.llm_replicas,
                                           ray_actor_options={"num_cpus": 0.1}).bind(data)
    t_deploy = time.perf_counter()
    serve.run(ClaraApi.options(num_replicas=args.api_replicas, ray_actor_options={"num_cpus": 0.05}).bind(data, llm),
              name="clara", route_prefix="/")
    hub = RayRevisionClient(settings.ray.namespace)
    while sum(s.live for s in hub.subscribers()) < args.llm_replicas + args.api_replicas:
        time.sleep(0.2)
    print(f"app up with {args.api_replicas} API + {args.llm_replicas} LLM replicas in "
          f"{time.perf_counter() - t_deploy:.1f} s; alias TTL {ttl} s")

    url = "http://127.0.0.1:8013"
    load = Load(url)
    results: dict[str, list[float]] = {"event": [], "ttl": []}
    call_s: list[float] = []
    current = "bench@v1"
    with httpx.Client(base_url=url, timeout=60) as c:
        while len(load.since(0)) < 40:  # warm: every replica has served and cached the alias
            time.sleep(0.1)
        for i in range(2 * args.flips):
            mode = "event" if i % 2 == 0 else "ttl"
            new = "bench@v2" if current == "bench@v1" else "bench@v1"
            time.sleep(random.uniform(0, ttl))  # flip at a random age of the replicas' cache entry
            t0 = time.perf_counter()
            if mode == "event":
                r = c.post("/api/serving/activate_adapter", json={"adapter": new})
                r.raise_for_status()
                call_s.append(time.perf_counter() - t0)
                assert r.json()["replicas_pending"] == 0, r.json()
            else:
                reg.activate(ids[new], reason="bench: TTL-only flip")
            results[mode].append(settle(load, t0, new, window=ttl + 0.75))
            current = new
    load.stop()
    serve.shutdown()
    ray.shutdown()

    ev, tl = results["event"], results["ttl"]
    print(f"\nalias flip -> all {args.api_replicas} API + {args.llm_replicas} LLM replicas answer with the new "
          f"version; {args.flips} flips per mode, {len(load.answers)} requests, {load.errors} errors")
    print(f"{'':22}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    print(f"{'event (pushed)':22}{pct(ev, .5) * 1000:10.0f}{pct(ev, .99) * 1000:10.0f}{max(ev) * 1000:10.0f}")
    print(f"{'TTL-only':22}{pct(tl, .5) * 1000:10.0f}{pct(tl, .99) * 1000:10.0f}{max(tl) * 1000:10.0f}")
    print(f"{'activate call (event)':22}{pct(call_s, .5) * 1000:10.0f}{pct(call_s, .99) * 1000:10.0f}"
          f"{max(call_s) * 1000:10.0f}")
    ratio = (lambda a, b: f"{a / b:.1f}x" if b > 0 else "n/a (event p50 below resolution)")
    print(f"ratio TTL-only / event: p50 {ratio(pct(tl, .5), pct(ev, .5))}, p99 {ratio(pct(tl, .99), pct(ev, .99))}")


if __name__ == "__main__":
    main()
