"""Persistent, incremental keyword index in the main database: SQLite FTS5 (BM25) or PostgreSQL full-text search.

Both own the rows of `corpus_chunks` (written here, so the index row and the chunk row change in one
transaction). Adding or replacing a document touches only its own rows; nothing is rebuilt.
- SQLite: FTS5 table `corpus_chunks_fts` (rowid = chunk seq) over Snowball-stemmed terms
  (clara_ray.datasets.text), ranked by FTS5's bm25() with the title weighted 2x the body.
- PostgreSQL: generated `tsv` column (german configuration, title weight A, body B) with a GIN index,
  ranked by ts_rank_cd with length normalisation (32: rank/(rank+1)); PostgreSQL has no built-in BM25.
Queries are OR-ed terms, so a document matching more (and rarer) terms ranks higher.
"""

from __future__ import annotations

import json
import re

from sqlalchemy import column, delete, func, insert, literal_column, select, table, text

from clara_ray.datasets.filters import SearchFilters
from clara_ray.datasets.stores.base import Hit, best_per_document
from clara_ray.datasets.tables import CorpusChunk, CorpusDocument
from clara_ray.datasets.text import terms
from clara_ray.db.engine import Database

_DOCS = CorpusDocument.__table__
_CHUNKS = CorpusChunk.__table__
_FTS = table("corpus_chunks_fts", column("rowid"))
WORDS = re.compile(r"[^\W_]+")


class SqlKeywordIndex:
    def __init__(self, db: Database):
        self.db = db

    def delete(self, session, doc_ids: list[str]) -> None:
        for i in range(0, len(doc_ids), 500):
            ids = list(doc_ids[i:i + 500])
            self._delete_index_rows(session, ids)
            session.execute(delete(_CHUNKS).where(_CHUNKS.c.doc_id.in_(ids)))

    def replace(self, session, doc_ids: list[str], chunks: list[dict]) -> None:
        """Drop the documents' old chunks and index rows, insert the new ones (chunk dicts: id, doc_id, position, title, text)."""
        self.delete(session, doc_ids)
        if not chunks:
            return
        session.execute(insert(_CHUNKS), [{k: c[k] for k in ("id", "doc_id", "position", "title", "text")} for c in chunks])
        self._index_rows(session, [c["id"] for c in chunks], chunks)

    def _delete_index_rows(self, session, doc_ids: list[str]) -> None:
        pass

    def _index_rows(self, session, chunk_ids: list[str], chunks: list[dict]) -> None:
        pass

    def search(self, query: str, limit: int, filters: SearchFilters | None = None) -> list[Hit]:
        raise NotImplementedError

    def _run(self, stmt, limit: int, filters: SearchFilters | None) -> list[Hit]:
        if filters and not filters.empty:
            stmt = stmt.join(_DOCS, _DOCS.c.id == _CHUNKS.c.doc_id).where(*filters.sql(_DOCS))
        with self.db.session() as s:
            rows = s.execute(stmt).all()
        return best_per_document([Hit(doc_id=d, score=float(sc), chunk_id=c) for c, d, sc in rows], limit)


class SqliteFtsIndex(SqlKeywordIndex):
    def _delete_index_rows(self, session, doc_ids: list[str]) -> None:
        session.execute(text("DELETE FROM corpus_chunks_fts WHERE rowid IN "
                             "(SELECT seq FROM corpus_chunks WHERE doc_id IN (SELECT value FROM json_each(:ids)))"),
                        {"ids": _json(doc_ids)})

    def _index_rows(self, session, chunk_ids: list[str], chunks: list[dict]) -> None:
        seqs = dict(session.execute(select(_CHUNKS.c.id, _CHUNKS.c.seq).where(_CHUNKS.c.id.in_(chunk_ids))).all())
        session.execute(text("INSERT INTO corpus_chunks_fts(rowid, title_terms, body_terms) VALUES (:seq, :t, :b)"),
                        [{"seq": seqs[c["id"]], "t": " ".join(terms(c["title"])), "b": " ".join(terms(c["text"]))}
                         for c in chunks])

    def search(self, query: str, limit: int, filters: SearchFilters | None = None) -> list[Hit]:
        q = fts5_query(query)
        if not q:
            return []
        bm25 = literal_column("bm25(corpus_chunks_fts, 2.0, 1.0)")  # smaller is better; title 2x body
        stmt = (select(_CHUNKS.c.id, _CHUNKS.c.doc_id, (-bm25).label("s"))
                .select_from(_FTS.join(_CHUNKS, _CHUNKS.c.seq == _FTS.c.rowid))
                .where(text("corpus_chunks_fts MATCH :q").bindparams(q=q))
                .order_by(bm25).limit(limit * 3))
        return self._run(stmt, limit, filters)


class PostgresFtsIndex(SqlKeywordIndex):
    def search(self, query: str, limit: int, filters: SearchFilters | None = None) -> list[Hit]:
        words = [w for w in WORDS.findall(query.lower()) if len(w) > 1 or w.isdigit()]
        if not words:
            return []
        tsq = func.to_tsquery("german", " | ".join(dict.fromkeys(words)))  # words are [^\W_]+: no tsquery syntax
        tsv = literal_column("corpus_chunks.tsv")
        rank = func.ts_rank_cd(tsv, tsq, 32)
        stmt = (select(_CHUNKS.c.id, _CHUNKS.c.doc_id, rank.label("s")).where(tsv.op("@@")(tsq))
                .order_by(rank.desc()).limit(limit * 3))
        return self._run(stmt, limit, filters)


def fts5_query(query: str) -> str:
    """OR of quoted stemmed terms: user text never reaches FTS5's query syntax unescaped."""
    ts = list(dict.fromkeys(terms(query)))
    return " OR ".join(f'"{t}"' for t in ts)


def _json(values: list[str]) -> str:
    return json.dumps(list(values))


def keyword_index(db: Database) -> SqlKeywordIndex:
    """The index matching the database dialect."""
    name = db.engine.dialect.name
    if name == "sqlite":
        return SqliteFtsIndex(db)
    if name == "postgresql":
        return PostgresFtsIndex(db)
    raise ValueError(f"no keyword index for database dialect {name!r} (use SQLite or PostgreSQL)")
