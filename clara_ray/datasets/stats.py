"""Dataset version statistics: count, tokens, length distribution, duplicate rate, quality and domain mix."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

from clara_ray.records import RecordError, content_hash, content_of, normalise

TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)
LENGTH_BUCKETS = [0, 50, 200, 500, 1000, 2048, 4096]


def record_text(record: dict) -> str:
    """The text a record contributes to training (what quality checks and hashes look at)."""
    try:
        return content_of(normalise(record))
    except RecordError:
        return ""


def _histogram(values: list[float], edges: list[float]) -> dict[str, int]:
    counts, _ = np.histogram(values, bins=[*edges, float("inf")])
    labels = [f"{edges[i]:g}-{edges[i + 1]:g}" for i in range(len(edges) - 1)] + [f">={edges[-1]:g}"]
    return dict(zip(labels, map(int, counts)))


def compute_stats(records: list[dict]) -> dict:
    """`tokens` counts words and punctuation (regex), independent of any model tokenizer."""
    texts = [record_text(r) for r in records]
    lengths = [len(t) for t in texts]
    hashes = Counter(content_hash(t) for t in texts if t)
    duplicates = sum(n - 1 for n in hashes.values())
    quality = [float(r["quality_score"]) for r in records if isinstance(r.get("quality_score"), (int, float))]
    arr = np.asarray(lengths or [0])
    out = {
        "count": len(records),
        "tokens": sum(len(TOKEN.findall(t)) for t in texts),
        "characters": int(arr.sum()),
        "length": {"min": int(arr.min()), "p10": int(np.percentile(arr, 10)), "p50": int(np.percentile(arr, 50)),
                   "p90": int(np.percentile(arr, 90)), "max": int(arr.max()), "mean": round(float(arr.mean()), 1),
                   "histogram": _histogram(lengths, LENGTH_BUCKETS)},
        "duplicates": duplicates,
        "duplicate_rate": round(duplicates / len(records), 4) if records else 0.0,
        "shapes": dict(Counter("messages" if "messages" in r else "prompt_response" if "prompt" in r else "text"
                               for r in records)),
    }
    if quality:
        q = np.asarray(quality)
        out["quality"] = {"mean": round(float(q.mean()), 4), "min": round(float(q.min()), 4),
                          "max": round(float(q.max()), 4),
                          "histogram": _histogram(quality, [0.0, 0.2, 0.4, 0.6, 0.8])}
    domains = Counter(r["domain"] for r in records if r.get("domain"))
    if domains:
        out["by_domain"] = dict(domains)
    return out
