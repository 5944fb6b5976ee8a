"""Store interfaces and the hit types they return; implementations live beside this module."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from clara_ray.datasets.filters import SearchFilters


@dataclass
class Hit:
    """A document found by one source: its score there (higher is better) and the chunk/entities that matched."""

    doc_id: str
    score: float
    chunk_id: str | None = None
    matched: list[str] = field(default_factory=list)


@dataclass
class GraphDocument:
    """What the graph stores about one document: filterable properties and its entities."""

    id: str
    title: str
    document_type: str
    domain: str
    date_int: int
    quality_score: float
    entities: dict[str, dict]  # key -> {name, kind, count}
    part_of: list[tuple[str, str]]


class VectorStore(Protocol):
    def upsert(self, ids: list[str], embeddings: np.ndarray, metadatas: list[dict]) -> None: ...
    def delete_documents(self, doc_ids: list[str]) -> None: ...
    def query(self, embedding: np.ndarray, limit: int, filters: SearchFilters | None = None) -> list[Hit]: ...
    def nearest_similarity(self, embeddings: np.ndarray) -> list[float | None]: ...
    def count(self) -> int: ...


class GraphStore(Protocol):
    def upsert_documents(self, docs: list[GraphDocument]) -> None: ...
    def delete_documents(self, doc_ids: list[str]) -> None: ...
    def search(self, keys: list[str], limit: int, filters: SearchFilters | None = None) -> list[Hit]: ...
    def document_entities(self, doc_id: str) -> list[dict]: ...
    def stats(self) -> dict: ...
    def close(self) -> None: ...


class KeywordIndex(Protocol):
    def replace(self, session, doc_ids: list[str], chunks: list[dict]) -> None: ...
    def delete(self, session, doc_ids: list[str]) -> None: ...
    def search(self, query: str, limit: int, filters: SearchFilters | None = None) -> list[Hit]: ...


def best_per_document(chunk_hits: list[Hit], limit: int) -> list[Hit]:
    """Collapse chunk hits to documents (best chunk wins), keeping rank order, at most `limit`."""
    seen: dict[str, Hit] = {}
    for h in sorted(chunk_hits, key=lambda h: -h.score):
        if h.doc_id not in seen:
            seen[h.doc_id] = h
            if len(seen) >= limit:
                break
    return list(seen.values())
