"""Vector store on Chroma: embedded PersistentClient (default) or HttpClient to a `chroma run` server; cosine space.

The collection's metadata records the embedding model that built it (name, fingerprint, dimension), so a query or
an ingest with another model fails (EmbeddingModelMismatch) instead of comparing vectors of two models.
"""

from __future__ import annotations

import logging

import numpy as np

from clara_ray.datasets.errors import EmbeddingModelMismatch, StoreUnavailable
from clara_ray.datasets.filters import SearchFilters
from clara_ray.datasets.stores.base import Hit, best_per_document

log = logging.getLogger("clara.datasets")
MODEL_KEYS = ("embedding_model", "embedding_fingerprint", "embedding_dim")


class ChromaVectorStore:
    """One collection, one row per chunk: id "<doc>#<n>", metadata doc_id/document_type/domain/date_int/quality_score."""

    def __init__(self, *, mode: str = "persistent", path: str | None = None, host: str = "127.0.0.1",
                 port: int = 8001, ssl: bool = False, collection: str = "clara_chunks"):
        import chromadb
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False, allow_reset=True)
        try:
            if mode == "http":
                self.client = chromadb.HttpClient(host=host, port=port, ssl=ssl, settings=settings)
                self.client.heartbeat()
            else:
                self.client = chromadb.PersistentClient(path=str(path), settings=settings)
        except Exception as e:  # noqa: BLE001 - connection errors come in many types
            raise StoreUnavailable(f"Chroma ({mode}) is not reachable: {e}") from e
        # embedding_function=None: we always pass vectors (Chroma's default function would try to download a model).
        self.col = self.client.get_or_create_collection(collection, embedding_function=None,
                                                        configuration={"hnsw": {"space": "cosine"}})
        self.max_batch = int(getattr(self.client, "get_max_batch_size", lambda: 4000)() or 4000)

    def model_record(self) -> dict | None:
        """The embedding model recorded in the collection's metadata (None: nothing recorded yet)."""
        meta = self.col.metadata or {}
        return {k: meta[k] for k in MODEL_KEYS if k in meta} if "embedding_fingerprint" in meta else None

    def ensure_model(self, name: str, fingerprint: str, dim: int | None = None, *, record: bool = False) -> None:
        """Raise EmbeddingModelMismatch when the collection was built with another model (or dimension); with
        `record`, write this model into a collection that has no record yet (the first ingest)."""
        mine = {"embedding_model": name, "embedding_fingerprint": fingerprint, "embedding_dim": dim}
        rec = self.model_record()
        if rec is not None:
            if rec["embedding_fingerprint"] != fingerprint or (dim and rec.get("embedding_dim") not in (None, dim)):
                raise EmbeddingModelMismatch(rec, mine)
            if not record or rec.get("embedding_dim") or not dim:
                return
        elif not record or dim is None:
            return
        n = self.count()
        if rec is None and n:  # an index from before models were recorded: its vectors' model is unknown
            log.warning("Chroma collection %s holds %d vectors but no embedding-model record; recording %s (%s) "
                        "as its model", self.col.name, n, name, fingerprint)
        new = {k: v for k, v in (self.col.metadata or {}).items() if not k.startswith("hnsw:")}
        self.col.modify(metadata={**new, **{k: v for k, v in mine.items() if v is not None}})

    def upsert(self, ids, embeddings, metadatas) -> None:
        # No chunk texts: they live in the database (corpus_chunks), and Chroma's own full-text indexing of them
        # took half of every vector write.
        for i in range(0, len(ids), self.max_batch):
            j = i + self.max_batch
            self.col.upsert(ids=list(ids[i:j]), embeddings=np.asarray(embeddings[i:j], dtype=np.float32),
                            metadatas=list(metadatas[i:j]))

    def delete_documents(self, doc_ids: list[str]) -> None:
        for i in range(0, len(doc_ids), 500):
            self.col.delete(where={"doc_id": {"$in": list(doc_ids[i:i + 500])}})

    def query(self, embedding, limit: int, filters: SearchFilters | None = None) -> list[Hit]:
        where = filters.chroma_where() if filters else None
        # Several chunks per document: ask for more chunks than documents wanted. Chroma answers an empty collection
        # or a short one with what it has. Only ids and distances: the document is in the chunk id ("<doc>#<n>"),
        # and reading metadata back (or counting the collection) would cost more than the search itself.
        res = self.col.query(query_embeddings=[np.asarray(embedding, dtype=np.float32)], n_results=limit * 3,
                             where=where, include=["distances"])
        hits = [Hit(doc_id=cid.rsplit("#", 1)[0], score=1.0 - float(d), chunk_id=cid)
                for cid, d in zip(res["ids"][0], res["distances"][0])]
        return best_per_document(hits, limit)

    def nearest_similarity(self, embeddings) -> list[float | None]:
        """Cosine similarity of each vector to its nearest stored chunk (None when the store is empty)."""
        if len(embeddings) == 0:
            return []
        if self.count() == 0:
            return [None] * len(embeddings)
        res = self.col.query(query_embeddings=np.asarray(embeddings, dtype=np.float32), n_results=1,
                             include=["distances"])
        return [1.0 - float(d[0]) if d else None for d in res["distances"]]

    def count(self) -> int:
        return self.col.count()
