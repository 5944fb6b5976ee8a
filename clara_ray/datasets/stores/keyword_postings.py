"""In-memory BM25 postings for keyword search: the database's own ranking, top-k without scoring every match in SQL.

SQLite FTS5 computes bm25() for every chunk matching any query term, and so does the BM25 query on PostgreSQL; at
459k chunks a common term matches 100k of them (keyword P95 43 ms in bench/bench_search.py). Here each term's
postings are numpy arrays (chunk row, weighted term frequency), so a query is a gather, a few vector operations and
a partial sort, scored with FTS5's bm25() formula (k1, b, title weight, IDF floor, document length = all terms of
the chunk); tests hold the rankings equal to FTS5's and to PostgreSQL's.

The arrays are built from the index's stored terms (SQLite: the FTS5 table's rows; PostgreSQL: the chunks'
tsvectors) and are used only while they describe the database: every keyword write bumps
`corpus_keyword_state.generation` in its own transaction (any process), and a search that finds another generation
than the loaded one is answered by the database while the arrays are rebuilt in a background thread. A rebuild
reads everything again: SQLite reuses the rowids of deleted chunks, so a row-level catch-up could not tell a
replaced chunk from an unchanged one.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from itertools import chain
from typing import Callable

import numpy as np
from sqlalchemy import text

from clara_ray.db.engine import Database

log = logging.getLogger("clara.datasets")

GENERATION_SQL = text("SELECT generation FROM corpus_keyword_state WHERE id = 1")
BUMP_SQL = text("UPDATE corpus_keyword_state SET generation = generation + 1 WHERE id = 1")
_FTS5_ROWS_SQL = text("SELECT rowid, title_terms, body_terms FROM corpus_chunks_fts WHERE rowid > :after "
                      "ORDER BY rowid LIMIT :n")
_TSVECTOR_ROWS_SQL = text("SELECT seq, coalesce(CAST(tsv AS text), '') FROM corpus_chunks WHERE seq > :after "
                          "ORDER BY seq LIMIT :n")

TermRows = list[tuple[int, str, str]]
"""A batch of index rows as the postings read them: (chunk seq, title terms, body terms), terms space-separated."""


def fts5_rows(session, after: int, n: int) -> TermRows:
    """SQLite: the FTS5 table's rows hold the terms as written."""
    return [tuple(r) for r in session.execute(_FTS5_ROWS_SQL, {"after": after, "n": n})]


def tsvector_rows(session, after: int, n: int) -> TermRows:
    """PostgreSQL: each chunk's tsvector ('term':1A,2A,7B ...; title positions at weight A, body at B) expanded
    back into its terms, one per position. Terms are [^\W_]+ (stores/keyword_sql.py), so a space ends an entry."""
    out = []
    for seq, tsv in session.execute(_TSVECTOR_ROWS_SQL, {"after": after, "n": n}):
        title, body = [], []
        for entry in tsv.split():
            quoted, colon, positions = entry.rpartition(":")
            if not colon:  # a term without positions (never written by pg_terms): one body occurrence
                body.append(entry[1:-1])
                continue
            for p in positions.split(","):
                (title if p.endswith("A") else body).append(quoted[1:-1])
        out.append((seq, " ".join(title), " ".join(body)))
    return out


@dataclass(frozen=True)
class Bm25Params:
    """FTS5's bm25() constants as the index calls it: bm25(corpus_chunks_fts, title_weight, 1.0)."""

    k1: float = 1.2
    b: float = 0.75
    title_weight: float = 2.0


@dataclass(frozen=True)
class PostingsSnapshot:
    """One immutable build; searches read it without a lock while the next one is made."""

    generation: int
    seqs: np.ndarray  # [rows] int64: corpus_chunks.seq of each row
    lengths: np.ndarray  # [rows] float64: terms in the chunk (title + body), FTS5's document length
    avg_length: float
    term_ids: dict[str, int]  # folded term -> index into `offsets`
    offsets: np.ndarray  # [terms + 1] int64: postings of term t are [offsets[t], offsets[t + 1])
    rows: np.ndarray  # [postings] int32: row of each posting, ascending within a term
    freqs: np.ndarray  # [postings] float32: title count * title_weight + body count (whole numbers)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.seqs, self.lengths, self.offsets, self.rows, self.freqs))


class KeywordPostings:
    """Exact BM25 top-k over the index's stored terms, read by `read_rows` (fts5_rows or tsvector_rows); `fold` maps
    a term to the index's token (diacritics folded)."""

    def __init__(self, db: Database, fold, params: Bm25Params = Bm25Params(), batch_rows: int = 20_000,
                 read_rows: Callable[..., TermRows] = fts5_rows):
        self.db = db
        self.fold = fold
        self.read_rows = read_rows
        self.params = params
        self.batch_rows = batch_rows
        self.snapshot: PostingsSnapshot | None = None
        self._building = threading.Lock()

    # ---- freshness ----
    def generation(self, session) -> int:
        return int(session.execute(GENERATION_SQL).scalar() or 0)

    def current(self, session) -> PostingsSnapshot | None:
        """The loaded snapshot if it matches the database, else None (and a rebuild starts in the background)."""
        snap = self.snapshot
        if snap is not None and snap.generation == self.generation(session):
            return snap
        if not self._building.locked():
            threading.Thread(target=self.build, name="clara-keyword-postings", daemon=True).start()
        return None

    def build(self) -> PostingsSnapshot | None:
        """Read every index row and make a new snapshot (one build at a time; a second caller waits and returns)."""
        with self._building:
            with self.db.session() as s:
                gen = self.generation(s)
            if self.snapshot is not None and self.snapshot.generation == gen:
                return self.snapshot
            t0 = time.perf_counter()
            try:
                snap = self._read(gen)
            except Exception:  # noqa: BLE001 - the database keeps answering; the next stale search tries again
                log.exception("keyword postings: build failed; the database answers keyword searches")
                return None
            self.snapshot = snap
            log.info("keyword postings: %d chunks, %d terms, %d postings, %.0f MB in %.1f s", len(snap.seqs),
                     len(snap.term_ids), len(snap.rows), snap.nbytes / 1e6, time.perf_counter() - t0)
            return snap

    def _read(self, gen: int) -> PostingsSnapshot:
        term_of: dict[str, int] = {}  # stored term -> term id; two stored spellings may fold to one FTS5 token
        term_ids: dict[str, int] = {}  # folded term -> term id
        seqs, lengths, p_terms, p_rows, p_freqs = [], [], [], [], []
        after, base = 0, 0
        while True:
            with self.db.session() as s:
                batch = self.read_rows(s, after, self.batch_rows)
            if not batch:
                break
            terms_, rows_, freqs_, n_terms = self._batch_postings(batch, base, term_of, term_ids)
            p_terms.append(terms_)
            p_rows.append(rows_)
            p_freqs.append(freqs_)
            lengths.append(n_terms)
            seqs.append(np.fromiter((r[0] for r in batch), dtype=np.int64, count=len(batch)))
            after, base = batch[-1][0], base + len(batch)
        cat = (lambda parts, dtype: np.concatenate(parts) if parts else np.zeros(0, dtype=dtype))
        terms_a, rows_a, freqs_a = cat(p_terms, np.int32), cat(p_rows, np.int32), cat(p_freqs, np.float32)
        order = np.argsort(terms_a, kind="stable")  # stable: rows stay ascending within a term
        offsets = np.zeros(len(term_ids) + 1, dtype=np.int64)
        np.cumsum(np.bincount(terms_a, minlength=len(term_ids)), out=offsets[1:])
        lengths_a = cat(lengths, np.float64)
        return PostingsSnapshot(generation=gen, seqs=cat(seqs, np.int64), lengths=lengths_a,
                                avg_length=float(lengths_a.mean()) if len(lengths_a) else 1.0, term_ids=term_ids,
                                offsets=offsets, rows=rows_a[order], freqs=freqs_a[order])

    def _batch_postings(self, batch, base: int, term_of: dict[str, int], term_ids: dict[str, int]):
        """Postings of a batch of index rows (seq, title terms, body terms) numbered from `base`, all vectorised:
        (term ids, rows, weighted frequencies) sorted by (term, row), and each row's term count."""
        titles = [r[1].split() for r in batch]
        bodies = [r[2].split() for r in batch]
        n_title = np.fromiter(map(len, titles), dtype=np.int64, count=len(batch))
        n_body = np.fromiter(map(len, bodies), dtype=np.int64, count=len(batch))
        flat = list(chain.from_iterable(titles)) + list(chain.from_iterable(bodies))
        for t in set(flat).difference(term_of):
            term_of[t] = term_ids.setdefault(self.fold(t), len(term_ids))
        ids = np.fromiter(map(term_of.__getitem__, flat), dtype=np.int64, count=len(flat))
        local = np.arange(len(batch), dtype=np.int64) + base
        rows = np.concatenate([np.repeat(local, n_title), np.repeat(local, n_body)])
        weights = np.concatenate([np.full(int(n_title.sum()), self.params.title_weight), np.ones(int(n_body.sum()))])
        keys, inverse = np.unique((ids << 32) | rows, return_inverse=True)  # one posting per (term, row)
        freqs = np.bincount(inverse.ravel(), weights=weights)
        return ((keys >> 32).astype(np.int32), (keys & 0xFFFFFFFF).astype(np.int32), freqs.astype(np.float32),
                n_title + n_body)

    # ---- search ----
    def scored(self, snap: PostingsSnapshot, query_terms: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(rows, scores) of every chunk matching any of `query_terms` (as FTS5 gets them: unfolded), unordered."""
        n = len(snap.seqs)
        k1, b = self.params.k1, self.params.b
        parts: list[tuple[np.ndarray, np.ndarray]] = []
        for t in query_terms:
            tid = snap.term_ids.get(self.fold(t))
            if tid is None:
                continue
            lo, hi = snap.offsets[tid], snap.offsets[tid + 1]
            rows, f = snap.rows[lo:hi], snap.freqs[lo:hi].astype(np.float64)
            hits = hi - lo
            idf = max(math.log((n - hits + 0.5) / (hits + 0.5)), 1e-6)
            # FTS5 fts5Bm25Function, operation for operation: idf * (f * (k1 + 1) / (f + k1 * (1 - b + b * D / avgdl)))
            parts.append((rows, idf * (f * (k1 + 1.0) / (f + k1 * (1 - b + b * snap.lengths[rows] / snap.avg_length)))))
        if not parts:
            return np.zeros(0, dtype=np.int32), np.zeros(0)
        if len(parts) == 1:
            return parts[0][0].copy(), parts[0][1]  # a copy: callers reorder it in place
        # bincount adds each row's contributions in query-term order, as FTS5 sums its phrases
        dense = np.bincount(np.concatenate([r for r, _ in parts]), weights=np.concatenate([s for _, s in parts]),
                            minlength=n)
        rows = np.flatnonzero(dense)
        return rows, dense[rows]

    def best_first(self, snap: PostingsSnapshot, query_terms: list[str], first: int):
        """Lists of (seq, score), best first, ties by seq: the `first` best (and any tied with the last of them),
        then blocks 4x as large, until every match was given."""
        rows, scores = self.scored(snap, query_terms)
        done, k = 0, max(first, 1)
        while done < len(rows):
            end = len(rows)
            if k < end:  # the next best move up behind those already given; only they get sorted
                tail = np.argpartition(-scores[done:], k - done - 1) + done
                rows[done:], scores[done:] = rows[tail], scores[tail]
                ties = scores[k:] == scores[k - 1]  # a tie with the block's last joins the block: order stays total
                rest = np.concatenate([np.flatnonzero(ties), np.flatnonzero(~ties)]) + k
                rows[k:], scores[k:] = rows[rest], scores[rest]
                end = k + int(ties.sum())
            order = np.lexsort((snap.seqs[rows[done:end]], -scores[done:end])) + done
            rows[done:end], scores[done:end] = rows[order], scores[order]
            yield [(int(snap.seqs[r]), float(sc)) for r, sc in zip(rows[done:end], scores[done:end])]
            done, k = end, end * 4
