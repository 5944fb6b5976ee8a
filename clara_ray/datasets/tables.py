"""ORM tables of the document corpus (migration 0002): documents and their chunks; the keyword index lives beside them.

SQLite adds an FTS5 table `corpus_chunks_fts` (rowid = corpus_chunks.seq); PostgreSQL adds a generated
`tsv` tsvector column with a GIN index on corpus_chunks. Neither is mapped here: the keyword stores use SQL.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from clara_ray.db.tables import Base, utcnow


class CorpusDocument(Base):
    """One searchable document; `content_hash` decides whether a re-ingest changes anything."""

    __tablename__ = "corpus_documents"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    document_type: Mapped[str] = mapped_column(String(64), index=True)
    domain: Mapped[str] = mapped_column(String(64), index=True)
    date: Mapped[str | None] = mapped_column(String(10), nullable=True, index=True)  # ISO yyyy-mm-dd
    source: Mapped[str | None] = mapped_column(String(256), nullable=True)
    quality_score: Mapped[float] = mapped_column(Float, index=True)
    extra: Mapped[dict] = mapped_column(JSON, default=dict)
    entities: Mapped[list] = mapped_column(JSON, default=list)  # extracted entity keys (for display)
    content_hash: Mapped[str] = mapped_column(String(64))
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    ingested_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CorpusChunk(Base):
    """A chunk of a document: the unit of vector and keyword retrieval. `seq` keys the keyword index row."""

    __tablename__ = "corpus_chunks"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(160), unique=True)  # "<doc_id>#<position>"
    doc_id: Mapped[str] = mapped_column(ForeignKey("corpus_documents.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)


class CorpusKeywordState(Base):
    """One row (id 1): `generation` counts SQLite keyword writes; in-memory postings are current while it holds still."""

    __tablename__ = "corpus_keyword_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)
