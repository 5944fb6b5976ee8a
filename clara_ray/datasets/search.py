"""Search over the three stores: one source at a time or hybrid (score fusion or weighted RRF, see fusion.py), with filters."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from clara_ray.datasets.entities import query_keys
from clara_ray.datasets.errors import DatasetInputError
from clara_ray.datasets.filters import SearchFilters
from clara_ray.datasets.fusion import fuse
from clara_ray.datasets.schemas import SearchRequest
from clara_ray.datasets.settings import DatasetSettings
from clara_ray.datasets.stores.base import Hit

SOURCES = ("vector", "graph", "keyword")
SNIPPET_CHARS = 300


class SearchEngine:
    def __init__(self, stores, settings: DatasetSettings, embedder):
        self.s = stores
        self.cfg = settings
        self._embedder = embedder  # callable returning the Embedder (loaded on first use)
        self._pool = ThreadPoolExecutor(len(SOURCES), thread_name_prefix="clara-search")

    def source_hits(self, source: str, query: str, limit: int, filters: SearchFilters | None) -> list[Hit]:
        if source == "vector":
            vec = self._embedder().embed([query])[0]
            return self.s.vector.query(vec, limit, filters)
        if source == "keyword":
            return self.s.keyword.search(query, limit, filters)
        return self.s.graph.search(query_keys(query), limit, filters)

    def weights(self, req: SearchRequest) -> dict[str, float]:
        base = self.cfg.weights.model_dump()
        if req.weights:
            base.update({k: v for k, v in req.weights.model_dump().items() if v is not None})
        if sum(base.values()) <= 0:
            raise DatasetInputError("at least one search weight must be positive", "weights")
        return base

    def search(self, req: SearchRequest, mode: str = "hybrid", max_top_k: int | None = None) -> dict:
        top_k = req.top_k or self.cfg.default_top_k
        if top_k > (max_top_k or self.cfg.max_top_k):
            raise DatasetInputError(f"top_k {top_k} exceeds the maximum {max_top_k or self.cfg.max_top_k}", "top_k")
        limit = max(top_k, self.cfg.candidates)
        t0 = time.perf_counter()
        if mode == "hybrid":
            weights = self.weights(req)
            active = [s for s in SOURCES if weights[s] > 0]
        else:
            weights, active = {mode: 1.0}, [mode]
        timings: dict[str, float] = {}

        def run(source: str) -> list[Hit]:
            t = time.perf_counter()
            hits = self.source_hits(source, req.query, limit, req.filters)
            timings[source] = round((time.perf_counter() - t) * 1000, 2)
            return hits

        if len(active) > 1:  # the embedding (torch) and the graph query (C++) release the GIL: overlap them
            futures = {s: self._pool.submit(run, s) for s in active}
            rankings = {s: f.result() for s, f in futures.items()}
        else:
            rankings = {active[0]: run(active[0])}
        method = req.fusion or self.cfg.fusion
        if mode == "hybrid":
            fused = fuse(method, rankings, weights, self.cfg.rrf_k)[:top_k]
        else:
            fused = [{"doc_id": h.doc_id, "score": round(h.score, 6), "sources": {mode: {"score": round(h.score, 6),
                                                                                          "rank": r}}}
                     for r, h in enumerate(rankings[mode][:top_k], 1)]
        results = self._materialise(fused, rankings, req.include_text)
        timings["total"] = round((time.perf_counter() - t0) * 1000, 2)
        out = {"query": req.query, "mode": mode, "top_k": top_k, "results": results,
               "counts": {s: len(h) for s, h in rankings.items()}, "timings_ms": timings,
               "filters": req.filters.model_dump(mode="json", exclude_none=True) if req.filters else {}}
        if mode == "hybrid":
            out["fusion"] = ({"method": "weighted_rrf", "k": self.cfg.rrf_k, "weights": weights,
                              "formula": "sum_s w_s / (k + rank_s), divided by sum_s w_s / (k + 1)"}
                             if method == "rrf" else
                             {"method": "weighted_score", "weights": weights,
                              "formula": "sum_s w_s * norm_s, divided by sum_s w_s; norm: (cos - floor) / (1 - floor) "
                                         "for vector, score / best score for keyword and graph"})
        return out

    def _materialise(self, fused: list[dict], rankings: dict[str, list[Hit]], include_text: bool) -> list[dict]:
        docs = self.s.corpus.result_views([f["doc_id"] for f in fused], text=include_text, head_chars=SNIPPET_CHARS)
        by_source = {s: {h.doc_id: h for h in hits} for s, hits in rankings.items()}
        chunk_ids = []
        for f in fused:
            for s in ("vector", "keyword"):
                h = by_source.get(s, {}).get(f["doc_id"])
                if h and h.chunk_id:
                    f["chunk_id"] = h.chunk_id
                    chunk_ids.append(h.chunk_id)
                    break
        chunks = self.s.corpus.chunks(chunk_ids)
        results = []
        for f in fused:
            if f["doc_id"] not in docs:  # in a store but not (yet) in the database: skip rather than fail
                continue
            view, head = docs[f["doc_id"]]
            snippet = chunks.get(f.get("chunk_id", ""), head)[:SNIPPET_CHARS]
            g = by_source.get("graph", {}).get(f["doc_id"])
            results.append({"rank": len(results) + 1, "document": view,
                            "score": f["score"], "sources": f["sources"], "snippet": snippet,
                            "chunk_id": f.get("chunk_id"), "matched_entities": g.matched if g else []})
        return results

    def close(self) -> None:
        self._pool.shutdown(wait=False)
