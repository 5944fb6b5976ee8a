"""The learning loop's search for augmentation: hybrid search through the datasets library, answered as chunks.

`service_search(service)` adapts a DatasetService in this process (tests, benches, a single-process setup).
`LibrarySearch(settings, db)` is what the learning-buffer actor uses: the API process holds the embedded
stores open, so it opens them for each search and closes them after, the embedded graph (ladybug) read-only
(a read-only opener coexists with the API's read-write one and sees its committed writes); Chroma's persistent
client reads the same folder; Neo4j, a Chroma server and the SQL keyword index are ordinary clients.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from clara_ray.config import ClaraSettings
from clara_ray.datasets.filters import SearchFilters
from clara_ray.datasets.schemas import SearchRequest
from clara_ray.db.engine import Database
from clara_ray.learning.training_set import Search, SearchChunk

if TYPE_CHECKING:
    from clara_ray.datasets.service import DatasetService


def service_search(service: DatasetService) -> Search:
    """Hybrid search (configured weights and fusion) on a DatasetService; each hit as its best chunk's full text
    (a hit found by the graph alone, which names no chunk, as its document's first chunk)."""

    def search(query: str, top_k: int, domain: str | None = None) -> list[SearchChunk]:
        req = SearchRequest(query=query, top_k=min(top_k, service.cfg.max_top_k), include_text=False,
                            filters=SearchFilters(domain=[domain]) if domain else None)
        results = service.search(req, "hybrid")["results"]
        corpus = service.stores.corpus
        texts = corpus.chunks([r["chunk_id"] for r in results if r.get("chunk_id")])
        chunkless = [r["document"]["id"] for r in results if not r.get("chunk_id")]
        first: dict[str, tuple[str, str]] = {}
        for c in sorted(corpus.chunks_of(chunkless), key=lambda c: c.position) if chunkless else []:
            first.setdefault(c.doc_id, (c.id, c.text))
        out = []
        for r in results:
            doc_id = r["document"]["id"]
            chunk_id, text = (r["chunk_id"], texts.get(r["chunk_id"], r["snippet"])) if r.get("chunk_id") \
                else first.get(doc_id, (None, r["snippet"]))
            out.append(SearchChunk(doc_id=doc_id, text=text, title=r["document"].get("title") or "",
                                   chunk_id=chunk_id, score=float(r["score"])))
        return out

    return search


class _NoGraph:
    """Stands in for an embedded graph that cannot be opened (nothing ingested yet): finds nothing."""

    def search(self, keys, limit, filters=None):
        return []

    def close(self) -> None:
        pass


def _read_only_ladybug(path: str):
    """The embedded graph opened read-only (no schema writes), or _NoGraph when there is none to open."""
    import ladybug

    from clara_ray.datasets.stores.graph_ladybug import LadybugGraphStore

    store = LadybugGraphStore.__new__(LadybugGraphStore)
    try:
        store.db = ladybug.Database(path, read_only=True)
    except RuntimeError:
        return _NoGraph()
    store.conn = ladybug.Connection(store.db)
    store.conn.set_max_threads_for_exec(1)
    store._lock = threading.RLock()
    return store


class LibrarySearch:
    """A Search that opens the datasets stores for each call (in a process other than the API's) and closes them."""

    def __init__(self, settings: ClaraSettings, db: Database):
        self.settings, self.db = settings, db
        self._lock = threading.Lock()

    def __call__(self, query: str, top_k: int, domain: str | None = None) -> list[SearchChunk]:
        from clara_ray.datasets.service import DatasetService

        cfg, data_dir = self.settings.datasets, self.settings.storage.data_dir
        graph = None
        if cfg.graph_backend == "embedded":
            graph = _read_only_ladybug(cfg.graph_path or str(data_dir / "graph" / "corpus.lbdb"))
        with self._lock:
            service = DatasetService(self.settings, self.db, graph=graph)
            try:
                return service_search(service)(query, top_k, domain)
            finally:
                service.close()
