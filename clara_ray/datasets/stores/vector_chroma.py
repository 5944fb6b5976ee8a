"""Vector store on Chroma: embedded PersistentClient (default) or HttpClient to a `chroma run` server; cosine space."""

from __future__ import annotations

import numpy as np

from clara_ray.datasets.errors import StoreUnavailable
from clara_ray.datasets.filters import SearchFilters
from clara_ray.datasets.stores.base import Hit, best_per_document


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

    def upsert(self, ids, embeddings, texts, metadatas) -> None:
        for i in range(0, len(ids), self.max_batch):
            j = i + self.max_batch
            self.col.upsert(ids=list(ids[i:j]), embeddings=np.asarray(embeddings[i:j], dtype=np.float32),
                            documents=list(texts[i:j]), metadatas=list(metadatas[i:j]))

    def delete_documents(self, doc_ids: list[str]) -> None:
        for i in range(0, len(doc_ids), 500):
            self.col.delete(where={"doc_id": {"$in": list(doc_ids[i:i + 500])}})

    def query(self, embedding, limit: int, filters: SearchFilters | None = None) -> list[Hit]:
        n = self.count()
        if n == 0:
            return []
        where = filters.chroma_where() if filters else None
        # Several chunks per document: ask for more chunks than documents wanted.
        res = self.col.query(query_embeddings=[np.asarray(embedding, dtype=np.float32)], n_results=min(limit * 3, n),
                             where=where, include=["metadatas", "distances"])
        hits = [Hit(doc_id=m["doc_id"], score=1.0 - float(d), chunk_id=cid)
                for cid, m, d in zip(res["ids"][0], res["metadatas"][0], res["distances"][0])]
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
