"""What the Ray loop tests check the same way: the bundled Baurecht records, the registry behind an app, which
version answers an alias, and the next cycle that decided."""

from __future__ import annotations

from clara_ray.resources import load_jsonl, qa_path
from tests.waiting import poll

CHAT = "<|begin_of_text|><|user|>{}<|end_of_text|><|assistant|>"
"""The tiny model's chat format (clara_ray.training.base_model.CHAT_TEMPLATE), so an adapter answers in it."""


def baurecht_records() -> list[dict]:
    return [r for r in load_jsonl(qa_path()) if r["domain"] == "baurecht"]


def registry_at(database_url: str):
    """The adapter registry of an app's database (the API does not hand out storage locations)."""
    from clara_ray.adapters.registry import AdapterRegistry
    from clara_ray.db.engine import Database

    return AdapterRegistry(Database(database_url))


def served_by(client, alias: str, ref: str, timeout: float = 60) -> dict:
    """The first /v1 answer to `alias` that version `ref` gave (replicas follow the revision hub's push)."""
    def answered():
        r = client.post("/v1/completions", json={"model": alias, "max_tokens": 6,
                                                 "prompt": CHAT.format(baurecht_records()[0]["prompt"])})
        assert r.status_code == 200, r.text
        return r.json() if r.headers["x-clara-model-version"] == ref else None

    return poll(answered, f"{alias} is not served by {ref}", timeout, 0.5)


def next_decided_cycle(client, alias: str, known: set[str] = frozenset(), timeout: float = 600) -> dict:
    """The newest cycle of `alias` not in `known` that decided (neither running nor in a canary)."""
    def decided():
        items = client.get("/api/learning/cycles", params={"adapter": alias}).json()["items"]
        new = [c for c in items if c["cycle_id"] not in known and c["status"] not in ("running", "canary")]
        return new[0] if new else None

    return poll(decided, f"no new cycle of {alias} decided", timeout, 1.0)
