"""Corpus documents in the database: upsert by id, content hashes for re-ingest, lookups and filtered listing."""

from __future__ import annotations

from sqlalchemy import delete, func, select

from clara_ray.datasets.documents import Document
from clara_ray.datasets.filters import SearchFilters
from clara_ray.datasets.tables import CorpusChunk, CorpusDocument
from clara_ray.db.engine import Database
from clara_ray.db.tables import utcnow

PUBLIC_FIELDS = ("id", "title", "document_type", "domain", "date", "source", "quality_score")


def document_view(row: CorpusDocument, *, text: bool = True) -> dict:
    out = {k: getattr(row, k) for k in PUBLIC_FIELDS}
    if text:
        out["text"] = row.text
    if row.extra:
        out["extra"] = row.extra
    return out


class CorpusRepository:
    def __init__(self, db: Database):
        self.db = db

    def known_hashes(self) -> dict[str, str]:
        with self.db.session() as s:
            return dict(s.execute(select(CorpusDocument.id, CorpusDocument.content_hash)).all())

    def upsert(self, session, docs: list[tuple[Document, list[str], int]]) -> None:
        """(document, entity keys, chunk count) per document; existing rows are updated in place."""
        ids = [d.id for d, _, _ in docs]
        existing = {r.id: r for r in session.scalars(select(CorpusDocument).where(CorpusDocument.id.in_(ids)))}
        now = utcnow()
        for doc, entity_keys, n_chunks in docs:
            row = existing.get(doc.id)
            if row is None:
                row = CorpusDocument(id=doc.id, ingested_at=now)
                session.add(row)
            row.title, row.text, row.document_type, row.domain = doc.title, doc.text, doc.document_type, doc.domain
            row.date, row.source, row.quality_score, row.extra = doc.date, doc.source, doc.quality_score, doc.extra
            row.entities, row.content_hash, row.chunk_count, row.updated_at = entity_keys, doc.content_hash, n_chunks, now
        session.flush()

    def get_many(self, ids: list[str]) -> dict[str, CorpusDocument]:
        if not ids:
            return {}
        with self.db.session() as s:
            return {r.id: r for r in s.scalars(select(CorpusDocument).where(CorpusDocument.id.in_(list(ids))))}

    def result_views(self, ids: list[str], *, text: bool, head_chars: int) -> dict[str, tuple[dict, str]]:
        """doc_id -> (document_view, the first `head_chars` characters of its text) for search results: plain rows,
        no ORM objects, and a document's whole text is read only when `text` asks for it."""
        if not ids:
            return {}
        t = CorpusDocument.__table__
        body = t.c.text if text else func.substr(t.c.text, 1, head_chars).label("text")
        with self.db.session() as s:
            rows = s.execute(select(*(t.c[k] for k in PUBLIC_FIELDS), t.c.extra, body).where(t.c.id.in_(ids)))
            out = {}
            for r in rows.mappings():
                view = {k: r[k] for k in PUBLIC_FIELDS}
                if text:
                    view["text"] = r["text"]
                if r["extra"]:
                    view["extra"] = r["extra"]
                out[r["id"]] = (view, r["text"][:head_chars])
            return out

    def get(self, doc_id: str) -> CorpusDocument | None:
        with self.db.session() as s:
            return s.get(CorpusDocument, doc_id)

    def chunks(self, chunk_ids: list[str]) -> dict[str, str]:
        if not chunk_ids:
            return {}
        with self.db.session() as s:
            return dict(s.execute(select(CorpusChunk.id, CorpusChunk.text).where(CorpusChunk.id.in_(chunk_ids))).all())

    def chunks_of(self, doc_ids: list[str]) -> list[CorpusChunk]:
        with self.db.session() as s:
            return list(s.scalars(select(CorpusChunk).where(CorpusChunk.doc_id.in_(doc_ids))
                                  .order_by(CorpusChunk.doc_id, CorpusChunk.position)))

    def filter(self, filters: SearchFilters, limit: int, offset: int = 0) -> list[CorpusDocument]:
        t = CorpusDocument.__table__
        with self.db.session() as s:
            return list(s.scalars(select(CorpusDocument).where(*filters.sql(t)).order_by(CorpusDocument.id)
                                  .offset(offset).limit(limit)))

    def delete(self, session, ids: list[str]) -> None:
        session.execute(delete(CorpusDocument).where(CorpusDocument.id.in_(ids)))

    def stats(self) -> dict:
        with self.db.session() as s:
            docs = s.scalar(select(func.count()).select_from(CorpusDocument)) or 0
            chunks = s.scalar(select(func.count()).select_from(CorpusChunk)) or 0
            by_domain = dict(s.execute(select(CorpusDocument.domain, func.count()).group_by(CorpusDocument.domain)).all())
            by_type = dict(s.execute(select(CorpusDocument.document_type, func.count())
                                     .group_by(CorpusDocument.document_type)).all())
        return {"documents": docs, "chunks": chunks, "by_domain": by_domain, "by_document_type": by_type}
