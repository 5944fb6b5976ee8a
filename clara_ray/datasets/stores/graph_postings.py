"""In-memory entity postings for graph search: entity -> (document rows, tf), kept in step with the graph's writes.

Graph search sums weight(e) * idf(e) * tf(d, e) over the query entities' MENTIONS edges. As one aggregate query in
the embedded graph database that costs time in proportion to the edges visited (7 ms for three entities at 3k
documents, far more at 100k); over numpy arrays it is a gather and a bincount (bench/bench_search.py). Only for
the embedded store: one process opens it, so every write passes through here. The index loads on the first search
and then follows writes (`add` replaces a document, `remove` deletes it); rows of replaced documents are masked
and compacted away once they are half of all rows.

Co-occurrence is counted here too, so the embedded store writes no CO_OCCURS edges (their MERGE per pair was three
quarters of its write time, bench/bench_graph_writes.py): weight(a, b) = live documents with both a and b among
their co-occurrence keys (entities.cooccurrence_keys), what the database's CO_OCCURS weight holds. Per seed it is
a gather over those documents' keys (a flat array of entity ids) and a bincount.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

import numpy as np

from clara_ray.datasets.entities import cooccurrence_keys
from clara_ray.datasets.filters import SearchFilters
from clara_ray.datasets.stores.base import GraphDocument


@dataclass
class PostingDoc:
    id: str
    document_type: str
    domain: str
    date_int: int
    quality_score: float


class EntityPostings:
    """Loaded lazily by `load()`: (documents, mentions) rows read from the store."""

    def __init__(self, load: Callable[[], tuple[list[PostingDoc], list[tuple[str, str, float]]]]):
        self._load = load
        self._lock = threading.RLock()
        self.loaded = False

    # ---- state ----
    def _reset(self) -> None:
        self.docs: list[PostingDoc | None] = []  # row -> document (None: replaced or deleted)
        self.row_of: dict[str, int] = {}
        self.lists: dict[str, tuple[list[int], list[float]]] = {}  # entity key -> (rows, tf)
        self.arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # numpy copies of `lists`, made on first use
        self.alive = np.zeros(0, dtype=bool)
        self.dead = 0
        # Co-occurrence: each row's co-occurrence keys as entity ids, flat, row after row (pk_len[r] of them).
        self.key_id: dict[str, int] = {}
        self.keys: list[str] = []  # entity id -> key
        self.pair_rows: dict[str, list[int]] = {}  # entity key -> rows that count it for co-occurrence
        self.pair_arrays: dict[str, np.ndarray] = {}  # numpy copies of `pair_rows`, made on first use
        self.pk_flat: list[int] = []
        self.pk_len: list[int] = []
        self.pk_arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # numpy copies, made on first use

    def _ensure(self) -> None:
        if not self.loaded:
            self._reset()
            docs, mentions = self._load()
            self._append(docs, mentions)
            self.loaded = True

    def _append(self, docs: list[PostingDoc], mentions: list[tuple[str, str, float]]) -> None:
        keys_of: dict[str, list[str]] = {}
        for doc_id, key, _ in mentions:
            keys_of.setdefault(doc_id, []).append(key)
        for d in docs:
            old = self.row_of.get(d.id)
            if old is not None:
                self.docs[old] = None
                self.dead += 1
            row = self.row_of[d.id] = len(self.docs)
            self.docs.append(d)
            counted = cooccurrence_keys(keys_of.get(d.id, []))
            for k in counted:
                self.pair_rows.setdefault(k, []).append(row)
                self.pair_arrays.pop(k, None)
            ids = [self._entity_id(k) for k in counted]
            self.pk_len.append(len(ids))
            self.pk_flat.extend(ids)
        self.pk_arrays = None
        for doc_id, key, tf in mentions:
            rows, tfs = self.lists.setdefault(key, ([], []))
            rows.append(self.row_of[doc_id])
            tfs.append(float(tf))
            self.arrays.pop(key, None)
        self.alive = np.fromiter((d is not None for d in self.docs), dtype=bool, count=len(self.docs))
        if self.dead and self.dead * 2 >= len(self.docs):
            self._compact()

    def _compact(self) -> None:
        live = [d for d in self.docs if d is not None]
        mentions = [(self.docs[r].id, key, tf) for key, (rows, tfs) in self.lists.items()
                    for r, tf in zip(rows, tfs) if self.docs[r] is not None]
        self._reset()
        self._append(live, mentions)

    def _entity_id(self, key: str) -> int:
        i = self.key_id.get(key)
        if i is None:
            i = self.key_id[key] = len(self.keys)
            self.keys.append(key)
        return i

    def _postings(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        arr = self.arrays.get(key)
        if arr is None:
            rows, tfs = self.lists.get(key, ([], []))
            arr = self.arrays[key] = (np.asarray(rows, dtype=np.int64), np.asarray(tfs, dtype=np.float64))
        return arr

    # ---- writes (from the store, after its own write succeeded) ----
    def add(self, docs: list[GraphDocument], mentions: list[tuple[str, str, float]]) -> None:
        """`mentions`: (doc id, entity key, tf) as the store wrote them on the MENTIONS edges."""
        with self._lock:
            if not self.loaded:
                return  # the first search loads everything
            self._append([PostingDoc(d.id, d.document_type, d.domain, int(d.date_int), float(d.quality_score))
                          for d in docs], mentions)

    def remove(self, doc_ids: list[str]) -> None:
        with self._lock:
            if not self.loaded:
                return
            for doc_id in doc_ids:
                row = self.row_of.pop(doc_id, None)
                if row is not None:
                    self.docs[row] = None
                    self.alive[row] = False
                    self.dead += 1

    # ---- reads ----
    def document_count(self) -> int:
        with self._lock:
            self._ensure()
            return len(self.row_of)

    def df(self, keys: list[str]) -> dict[str, int]:
        """Documents mentioning each key (keys no document mentions are left out, as the database query does)."""
        with self._lock:
            self._ensure()
            out = {}
            for k in keys:
                rows, _ = self._postings(k)
                n = int(np.count_nonzero(self.alive[rows])) if len(rows) else 0
                if n:
                    out[k] = n
            return out

    def cooccurring(self, seeds: list[str], limit: int) -> list[tuple[str, str, int]]:
        """(a, b, weight) over each seed a's co-occurring entities b, heaviest first (ties by a, then b), at most
        `limit` in all: the CO_OCCURS rows the database query would return."""
        with self._lock:
            self._ensure()
            if self.pk_arrays is None:
                length = np.asarray(self.pk_len, dtype=np.int64)
                self.pk_arrays = (np.asarray(self.pk_flat, dtype=np.int64), np.cumsum(length) - length, length)
            flat, start, length = self.pk_arrays
            out: list[tuple[str, str, int]] = []
            for a in dict.fromkeys(seeds):
                rows = self.pair_arrays.get(a)
                if rows is None:
                    rows = self.pair_arrays[a] = np.asarray(self.pair_rows.get(a, []), dtype=np.int64)
                rows = rows[self.alive[rows]] if len(rows) else rows
                if not len(rows):
                    continue
                n = length[rows]
                # Positions in `flat` of every key of those rows: each row's start, then consecutive.
                at = np.repeat(start[rows] - (np.cumsum(n) - n), n) + np.arange(int(n.sum()))
                counts = np.bincount(flat[at], minlength=len(self.keys))
                counts[self.key_id[a]] = 0
                found = np.flatnonzero(counts)
                if len(found) > limit:  # every neighbour at least as heavy as the limit-th (ties sort by key below)
                    edge = np.partition(counts[found], len(found) - limit)[len(found) - limit]
                    found = found[counts[found] >= edge]
                out += [(a, self.keys[b], int(counts[b])) for b in found]
            return sorted(out, key=lambda x: (-x[2], x[0], x[1]))[:limit]

    def top(self, weights: dict[str, float], limit: int, filters: SearchFilters | None) -> list[tuple[str, float]]:
        """(doc id, sum of weight * tf over the entities it mentions), best first (ties by id), at most `limit`."""
        with self._lock:
            self._ensure()
            parts = [(self._postings(k), w) for k, w in weights.items() if w]
            if not parts:
                return []
            rows = np.concatenate([r for (r, _), _ in parts])
            contrib = np.concatenate([t * w for (_, t), w in parts])
            keep = self.alive[rows]
            scores = np.bincount(rows[keep], weights=contrib[keep], minlength=len(self.docs))
            cand = np.flatnonzero(scores > 0)
            if filters is not None and not filters.empty:
                cand = cand[[filters.matches(self.docs[r]) for r in cand]] if len(cand) else cand
            if len(cand) > limit:  # everything scoring at least the limit-th score, so ties at the edge sort by id
                edge = np.partition(scores[cand], len(cand) - limit)[len(cand) - limit]
                cand = cand[scores[cand] >= edge]
            ranked = sorted(((self.docs[r].id, float(scores[r])) for r in cand), key=lambda x: (-x[1], x[0]))
            return ranked[:limit]
