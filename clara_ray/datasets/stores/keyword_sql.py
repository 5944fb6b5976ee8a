"""Persistent, incremental keyword index in the main database: SQLite FTS5 or PostgreSQL, both ranked by the same BM25.

Both own the rows of `corpus_chunks` (written here, so the index row and the chunk row change in one
transaction). Adding or replacing a document touches only its own rows; nothing is rebuilt.
Both index the same terms: clara_ray.datasets.text.terms() of the chunk's title and body (lower-case, German
stop words dropped, Snowball German stems), and rank with FTS5's BM25: k1 = 1.2, b = 0.75, a title term counts
2x a body term, document length = all terms of the chunk, IDF = ln((N - n + 0.5) / (n + 0.5)) floored at 1e-6.
- SQLite: FTS5 table `corpus_chunks_fts` (rowid = chunk seq) over the terms, ranked by bm25(fts, 2.0, 1.0).
- PostgreSQL (no built-in BM25): `corpus_chunks.tsv` holds the same terms as a tsvector literal (title terms at
  weight A, body terms at B; no text-search parser or dictionary touches them) and `n_terms` their count; a GIN
  index finds the matches and the query computes the same BM25 in SQL (migration 0011; before it, PostgreSQL
  ranked with ts_rank_cd over its own german stemmer).
Queries are OR-ed terms, so a document matching more (and rarer) terms ranks higher.
On both, searches are scored from in-memory postings of the same terms (keyword_postings.py) whenever they are
current, and by the database otherwise; every keyword write bumps `corpus_keyword_state.generation`.
"""

from __future__ import annotations

import json
import math
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from sqlalchemy import (BigInteger, Float, Text, any_, bindparam, cast, column, delete, func, insert, literal_column,
                        select, table, text, true)
from sqlalchemy.dialects.postgresql import ARRAY, TSQUERY

from clara_ray.datasets.filters import SearchFilters
from clara_ray.datasets.stores.base import Hit, best_per_document
from clara_ray.datasets.stores.keyword_postings import (BUMP_SQL, Bm25Params, KeywordPostings, TermRows, fts5_rows,
                                                        tsvector_rows)
from clara_ray.datasets.tables import CorpusChunk, CorpusDocument
from clara_ray.datasets.text import terms
from clara_ray.db.engine import Database

_DOCS = CorpusDocument.__table__
_CHUNKS = CorpusChunk.__table__
_FTS = table("corpus_chunks_fts", column("rowid"))
K1, B, TITLE_WEIGHT = 1.2, 0.75, 2.0  # FTS5's bm25() constants; title column weight as passed to bm25() below
MAX_POSITION = 16383  # PostgreSQL's largest tsvector position


class SqlKeywordIndex:
    """What both dialects share: the chunk rows, the generation bump, and searches from the in-memory postings when
    they are current (`_search_database` otherwise)."""

    def __init__(self, db: Database, read_rows: Callable[..., TermRows] | None = None):
        """`read_rows`: how the postings read this dialect's stored terms; None = no postings, the database scores."""
        self.db = db
        self.postings = (KeywordPostings(db, _fold, Bm25Params(K1, B, TITLE_WEIGHT), read_rows=read_rows)
                         if read_rows is not None else None)

    def delete(self, session, doc_ids: list[str]) -> None:
        # In the writing transaction, first: postings of any process see the change once it commits, and concurrent
        # writers queue on the counter row before they touch any chunk (no deadlock between them).
        session.execute(BUMP_SQL)
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

    def warm(self) -> None:
        """Build the in-memory postings now (otherwise the first search starts it, the database answering meanwhile)."""
        if self.postings is not None:
            self.postings.build()

    def close(self) -> None:
        """Stop background threads (none here)."""

    def _index_rows(self, session, chunk_ids: list[str], chunks: list[dict]) -> None:
        pass

    def search(self, query: str, limit: int, filters: SearchFilters | None = None) -> list[Hit]:
        query_terms = list(dict.fromkeys(terms(query)))
        if not query_terms:
            return []
        filters = None if filters is None or filters.empty else filters
        if self.postings is not None:
            with self.db.session() as s:
                snap = self.postings.current(s)
                if snap is not None:
                    return self._search_postings(s, snap, query_terms, limit, filters)
        return self._search_database(query_terms, limit, filters)

    def _search_database(self, query_terms: list[str], limit: int, filters: SearchFilters | None) -> list[Hit]:
        raise NotImplementedError

    def _seq_in(self, seqs: list[int]):
        """WHERE clause: corpus_chunks.seq is one of `seqs` (a block of up to hundreds of thousands)."""
        raise NotImplementedError

    def _search_postings(self, session, snap, query_terms: list[str], limit: int,
                         filters: SearchFilters | None) -> list[Hit]:
        """The best `limit * 3` chunks that pass `filters`, as the database would rank them: the postings order all
        matches, the database maps them to chunks and applies the filters, block by growing block until enough pass."""
        want, hits = limit * 3, []
        for block in self.postings.best_first(snap, query_terms, want):
            stmt = select(_CHUNKS.c.seq, _CHUNKS.c.id, _CHUNKS.c.doc_id).where(self._seq_in([q for q, _ in block]))
            if filters is not None:
                stmt = stmt.join(_DOCS, _DOCS.c.id == _CHUNKS.c.doc_id).where(*filters.sql(_DOCS))
            found = {seq: (c, d) for seq, c, d in session.execute(stmt).all()}
            hits += [Hit(doc_id=found[q][1], score=sc, chunk_id=found[q][0]) for q, sc in block if q in found]
            if len(hits) >= want:
                break
        return best_per_document(hits[:want], limit)

    def _run(self, stmt, limit: int, filters: SearchFilters | None) -> list[Hit]:
        if filters is not None:
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

    # Unfiltered search scores FTS5 rows alone, then joins only the best to their chunks (joining every match first
    # cost twice as much at 100k documents), in `scan_shards` rowid ranges scanned in parallel: FTS5 computes
    # bm25() for every matching row, and each range's scan releases the GIL. bm25's statistics are the whole
    # table's whatever the range, so the merged ranking is the unsharded one.
    _SHARD_SQL = text("SELECT c.id, c.doc_id, -f.r FROM (SELECT rowid, bm25(corpus_chunks_fts, :tw, 1.0) AS r "
                      "FROM corpus_chunks_fts WHERE corpus_chunks_fts MATCH :q AND rowid BETWEEN :lo AND :hi "
                      "ORDER BY r LIMIT :n) f JOIN corpus_chunks c ON c.seq = f.rowid")

    def __init__(self, db: Database, scan_shards: int = 2, postings: bool = True):
        super().__init__(db, fts5_rows if postings else None)
        self.scan_shards = max(1, scan_shards)
        self._pool = ThreadPoolExecutor(self.scan_shards, thread_name_prefix="clara-fts") if scan_shards > 1 else None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    def _seq_in(self, seqs: list[int]):
        return _CHUNKS.c.seq.in_(select(column("value")).select_from(func.json_each(_json(seqs))))

    def _search_database(self, query_terms: list[str], limit: int, filters: SearchFilters | None) -> list[Hit]:
        q = fts5_query(query_terms)
        if filters is not None:  # filters must hold before the limit: score the filtered join
            bm25 = literal_column(f"bm25(corpus_chunks_fts, {TITLE_WEIGHT}, 1.0)")  # smaller is better
            stmt = (select(_CHUNKS.c.id, _CHUNKS.c.doc_id, (-bm25).label("s"))
                    .select_from(_FTS.join(_CHUNKS, _CHUNKS.c.seq == _FTS.c.rowid))
                    .where(text("corpus_chunks_fts MATCH :q").bindparams(q=q))
                    .order_by(bm25).limit(limit * 3))
            return self._run(stmt, limit, filters)
        with self.db.session() as s:
            top = s.execute(select(func.max(_CHUNKS.c.seq))).scalar() or 0
        step = top // self.scan_shards + 1
        ranges = [(i * step + 1, (i + 1) * step) for i in range(self.scan_shards)]
        params = {"q": q, "tw": TITLE_WEIGHT, "n": limit * 3}

        def scan(lo_hi: tuple[int, int]) -> list:
            with self.db.session() as s:
                return s.execute(self._SHARD_SQL, {**params, "lo": lo_hi[0], "hi": lo_hi[1]}).all()

        parts = list(self._pool.map(scan, ranges)) if self._pool else [scan(ranges[0])]
        rows = sorted((r for part in parts for r in part), key=lambda r: (-r[2], r[0]))[:limit * 3]
        return best_per_document([Hit(doc_id=d, score=float(sc), chunk_id=c) for c, d, sc in rows], limit)


class PostgresFtsIndex(SqlKeywordIndex):
    def __init__(self, db: Database, postings: bool = True):
        super().__init__(db, tsvector_rows if postings else None)

    def _index_rows(self, session, chunk_ids: list[str], chunks: list[dict]) -> None:
        session.execute(text("UPDATE corpus_chunks SET tsv = CAST(:tsv AS tsvector), n_terms = :n WHERE id = :id"),
                        [{"id": c["id"], **dict(zip(("tsv", "n"), pg_terms(c["title"], c["text"])))} for c in chunks])

    def _seq_in(self, seqs: list[int]):
        return _CHUNKS.c.seq == any_(bindparam("seqs", seqs, type_=ARRAY(BigInteger)))

    def _search_database(self, query_terms: list[str], limit: int, filters: SearchFilters | None) -> list[Hit]:
        ts = list(dict.fromkeys(_fold(t) for t in query_terms))
        with self.db.session() as s:
            # Corpus statistics and one document frequency per term, each counted on the GIN index.
            counts = ", ".join(f"(SELECT count(*) FROM corpus_chunks WHERE tsv @@ CAST(:q{i} AS tsquery))"
                               for i in range(len(ts)))
            row = s.execute(text(f"SELECT (SELECT count(*) FROM corpus_chunks), "
                                 f"(SELECT coalesce(avg(n_terms), 0) FROM corpus_chunks), {counts}"),
                            {f"q{i}": _lexeme(t) for i, t in enumerate(ts)}).one()
        n, avgdl, dfs = float(row[0]), float(row[1]) or 1.0, [float(x) for x in row[2:]]
        idf = [max(math.log((n - df + 0.5) / (df + 0.5)), 1e-6) for df in dfs]
        tsv, dl = literal_column("corpus_chunks.tsv"), literal_column("corpus_chunks.n_terms")
        hits = select(_CHUNKS.c.seq, _CHUNKS.c.id, _CHUNKS.c.doc_id, dl.label("dl"), tsv.label("tsv")).where(
            tsv.op("@@")(cast(" | ".join(_lexeme(t) for t in ts), TSQUERY)))
        if filters is not None:
            hits = hits.join(_DOCS, _DOCS.c.id == _CHUNKS.c.doc_id).where(*filters.sql(_DOCS))
        hits = hits.cte("hits")
        lex = func.unnest(hits.c.tsv).table_valued("lexeme", "positions", "weights").render_derived("u")
        weights = func.unnest(bindparam("terms", ts, type_=ARRAY(Text)),
                              bindparam("idfs", idf, type_=ARRAY(Float))).table_valued("term", "idf").render_derived("w")
        # Term frequency with column weights, as FTS5 counts it: each title occurrence 2.0, each body one 1.0.
        freq = (TITLE_WEIGHT * func.coalesce(func.cardinality(func.array_positions(lex.c.weights, "A")), 0)
                + func.coalesce(func.cardinality(func.array_positions(lex.c.weights, "B")), 0))
        score = func.sum(weights.c.idf * freq * (K1 + 1) / (freq + K1 * (1 - B + B * hits.c.dl / avgdl)))
        stmt = (select(hits.c.id, hits.c.doc_id, score.label("s"))
                .select_from(hits.join(lex, true()).join(weights, weights.c.term == lex.c.lexeme))
                .group_by(hits.c.seq, hits.c.id, hits.c.doc_id).order_by(score.desc(), hits.c.seq).limit(limit * 3))
        return self._run(stmt, limit, None)  # filters are applied inside `hits`


def _fold(term: str) -> str:
    # FTS5's unicode61 tokenizer (remove_diacritics 2) folds diacritics; the tsvector literal must hold the same.
    if term.isascii():
        return term
    return unicodedata.normalize("NFC", "".join(ch for ch in unicodedata.normalize("NFD", term)
                                                 if not unicodedata.combining(ch)))


def _lexeme(term: str) -> str:
    # Terms are [^\W_]+ (no quote or backslash); quoted, they bypass tsquery/tsvector syntax entirely.
    return f"'{term}'"


def pg_terms(title: str, body: str) -> tuple[str, int]:
    """(tsvector literal, term count) of one chunk: title terms at weight A, then body terms at weight B."""
    positions: dict[str, list[str]] = {}
    words = [(t, "A") for t in terms(title)] + [(t, "B") for t in terms(body)]
    for i, (t, w) in enumerate(words, 1):
        positions.setdefault(_fold(t), []).append(f"{min(i, MAX_POSITION)}{w}")
    return " ".join(f"{_lexeme(t)}:{','.join(p)}" for t, p in positions.items()), len(words)


def fts5_query(query_terms: list[str]) -> str:
    """OR of quoted stemmed terms: user text never reaches FTS5's query syntax unescaped."""
    return " OR ".join(f'"{t}"' for t in query_terms)


def _json(values: list[str]) -> str:
    return json.dumps(list(values))


def keyword_index(db: Database, scan_shards: int = 2, postings: bool = True) -> SqlKeywordIndex:
    """The index matching the database dialect (`scan_shards`: SQLite's parallel rowid ranges per search when the
    database scores; `postings`: score searches from in-memory postings whenever they are current)."""
    name = db.engine.dialect.name
    if name == "sqlite":
        return SqliteFtsIndex(db, scan_shards, postings)
    if name == "postgresql":
        return PostgresFtsIndex(db, postings)
    raise ValueError(f"no keyword index for database dialect {name!r} (use SQLite or PostgreSQL)")
