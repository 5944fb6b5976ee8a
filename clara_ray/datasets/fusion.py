"""Weighted reciprocal-rank fusion (RRF) of per-source rankings.

    fused(d) = sum over sources s that found d:  w_s / (k + rank_s(d))        (rank 1 = best)

normalised by the best possible value sum_s w_s / (k + 1), so a document ranked first by every weighted
source scores 1.0. Ranks, not raw scores, are fused: cosine similarities, BM25 and graph scores live on
different scales, and RRF needs no calibration between them. k (default 60, Cormack et al. 2009) damps
the gap between neighbouring ranks; weights shift trust between sources. Ties break by best single rank,
then by document id, so results are deterministic.
"""

from __future__ import annotations

from clara_ray.datasets.stores.base import Hit


def weighted_rrf(rankings: dict[str, list[Hit]], weights: dict[str, float], k: int = 60) -> list[dict]:
    """[{doc_id, score, sources: {name: {score, rank}}}] best first; sources with weight 0 are ignored."""
    active = {s: w for s, w in weights.items() if w > 0 and s in rankings}
    norm = sum(w / (k + 1) for w in active.values()) or 1.0
    fused: dict[str, dict] = {}
    for source, w in active.items():
        for rank, hit in enumerate(rankings[source], 1):
            entry = fused.setdefault(hit.doc_id, {"doc_id": hit.doc_id, "score": 0.0, "sources": {}, "best_rank": rank})
            entry["score"] += w / (k + rank)
            entry["best_rank"] = min(entry["best_rank"], rank)
            entry["sources"][source] = {"score": round(hit.score, 6), "rank": rank}
    out = sorted(fused.values(), key=lambda e: (-e["score"], e["best_rank"], e["doc_id"]))
    for e in out:
        e["score"] = round(e["score"] / norm, 6)
        del e["best_rank"]
    return out
