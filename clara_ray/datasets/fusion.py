"""Fusion of per-source rankings into one hybrid ranking; two documented methods.

score (default): weighted normalised score fusion
    fused(d) = sum over sources s that found d:  w_s * norm_s(d)
  norm_vector  = (cos - floor) / (1 - floor), floor = lowest cosine among the query's candidates: the
                 absolute cosine scale is kept (a weak semantic match stays a weak contribution instead of
                 being stretched to 1, as min-max would), only the query's background similarity is removed
  norm_keyword = BM25 / best BM25 of this query; norm_graph = graph score / best graph score
                 (raw scales differ per query, so they are made relative to the query's best hit)
  then divided by sum_s w_s, so fused scores lie in [0, 1].

rrf: weighted reciprocal-rank fusion (Cormack et al. 2009, with weights)
    fused(d) = sum over sources s that found d:  w_s / (k + rank_s(d))        (rank 1 = best)
  normalised by sum_s w_s / (k + 1), so a document ranked first by every source scores 1.0. Uses ranks
  only (no calibration needed) but treats a weak source's first hit like a strong source's.

On the bundled German corpus with the English MiniLM model, score fusion beats every single source
and RRF does not (see BENCHMARKS.md / tests). Ties break by best single rank, then document id.
"""

from __future__ import annotations

from clara_ray.datasets.stores.base import Hit

ABSOLUTE_SOURCES = {"vector"}  # cosine similarity: an absolute scale with maximum 1


def _entries(rankings: dict[str, list[Hit]], weights: dict[str, float], contribution) -> list[dict]:
    fused: dict[str, dict] = {}
    for source, hits in rankings.items():
        w = weights.get(source, 0.0)
        if w <= 0 or not hits:
            continue
        best, floor = max(h.score for h in hits), min(h.score for h in hits)
        for rank, hit in enumerate(hits, 1):
            e = fused.setdefault(hit.doc_id, {"doc_id": hit.doc_id, "score": 0.0, "sources": {}, "best_rank": rank})
            e["score"] += w * contribution(source, rank, hit.score, best, floor)
            e["best_rank"] = min(e["best_rank"], rank)
            e["sources"][source] = {"score": round(hit.score, 6), "rank": rank}
    return sorted(fused.values(), key=lambda e: (-e["score"], e["best_rank"], e["doc_id"]))


def _finish(entries: list[dict], norm: float) -> list[dict]:
    for e in entries:
        e["score"] = round(e["score"] / (norm or 1.0), 6)
        del e["best_rank"]
    return entries


def weighted_rrf(rankings: dict[str, list[Hit]], weights: dict[str, float], k: int = 60) -> list[dict]:
    """[{doc_id, score, sources: {name: {score, rank}}}] best first; sources with weight 0 are ignored."""
    norm = sum(w / (k + 1) for s, w in weights.items() if w > 0 and rankings.get(s))
    return _finish(_entries(rankings, weights, lambda s, rank, score, best, floor: 1.0 / (k + rank)), norm)


def normalised(source: str, score: float, best: float, floor: float) -> float:
    if source in ABSOLUTE_SOURCES:
        return max(0.0, min(1.0, (score - floor) / (1.0 - floor))) if floor < 1.0 else 1.0
    return max(0.0, score / best) if best > 0 else 0.0


def weighted_score_fusion(rankings: dict[str, list[Hit]], weights: dict[str, float]) -> list[dict]:
    """Same output shape as weighted_rrf; see the module doc for the normalisation per source."""
    norm = sum(w for s, w in weights.items() if w > 0 and rankings.get(s))
    return _finish(_entries(rankings, weights, lambda s, rank, score, best, floor: normalised(s, score, best, floor)), norm)


def fuse(method: str, rankings: dict[str, list[Hit]], weights: dict[str, float], k: int = 60) -> list[dict]:
    if method == "rrf":
        return weighted_rrf(rankings, weights, k)
    return weighted_score_fusion(rankings, weights)
