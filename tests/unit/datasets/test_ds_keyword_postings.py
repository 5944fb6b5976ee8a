"""In-memory keyword postings: blocks best-first, a build per corpus generation, FTS5 while stale or building."""

from __future__ import annotations

import random

from clara_ray.datasets.corpus import CorpusRepository
from clara_ray.datasets.documents import parse_document
from clara_ray.datasets.stores.keyword_sql import keyword_index
from clara_ray.datasets.text import terms
from clara_ray.db.engine import Database

WORDS = ["Baugenehmigung", "Außenbereich", "Bebauungsplan", "Abstandsfläche", "Nachbar", "Gemeinde", "Vorhaben"]


def _store(tmp_path, n_docs: int = 400):
    db = Database(f"sqlite:///{tmp_path / 'k.db'}")
    rng = random.Random(3)
    docs = [parse_document({"id": f"d{i}", "title": f"Bescheid {i}", "document_type": "judgment", "domain": "baurecht",
                            "text": " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 60)))})
            for i in range(n_docs)]
    kw = keyword_index(db)
    with db.session() as s:
        CorpusRepository(db).upsert(s, [(d, [], 1) for d in docs])
        kw.replace(s, [d.id for d in docs], [{"id": f"{d.id}#0", "doc_id": d.id, "position": 0, "title": d.title,
                                              "text": d.text} for d in docs])
    return db, kw


def test_blocks_come_best_first_and_cover_every_match(tmp_path):
    db, kw = _store(tmp_path)
    try:
        snap = kw.postings.build()
        query = terms("Baugenehmigung Nachbar")
        assert len(query) == 2
        blocks = list(kw.postings.best_first(snap, query, 7))
        ends = [sum(len(b) for b in blocks[:i + 1]) for i in range(len(blocks))]
        assert len(blocks[0]) >= 7 and all(e >= 4 * prev for prev, e in zip(ends, ends[1:-1]))  # 7+, then 4x ...
        flat = [x for b in blocks for x in b]
        rows, scores = kw.postings.scored(snap, query)
        assert len(flat) == len(rows) == len({seq for seq, _ in flat})
        assert [sc for _, sc in flat] == sorted(scores.tolist(), reverse=True)
        assert flat == sorted(flat, key=lambda x: (-x[1], x[0]))  # ties by seq
        # The snapshot's own arrays are not reordered by a search.
        once = list(kw.postings.best_first(snap, query[:1], 5))
        assert once and once == list(kw.postings.best_first(snap, query[:1], 5))
    finally:
        db.dispose()


def test_a_stale_index_answers_from_fts5_and_rebuilds_in_the_background(tmp_path):
    db, kw = _store(tmp_path, 50)
    try:
        with db.session() as s:
            assert kw.postings.current(s) is None  # never built: FTS5 answers, a build starts
        kw.warm()  # joins (or repeats) the build
        built = kw.postings.snapshot
        assert built is not None and len(built.seqs) == 50
        assert kw.search("Baugenehmigung", 5)  # answered from the snapshot
        with db.session() as s:
            kw.delete(s, ["d0"])
            assert kw.postings.current(s) is None  # the write is seen inside its own transaction too
        kw.warm()
        assert kw.postings.snapshot.generation == built.generation + 1 and len(kw.postings.snapshot.seqs) == 49
    finally:
        kw.close()
        db.dispose()
