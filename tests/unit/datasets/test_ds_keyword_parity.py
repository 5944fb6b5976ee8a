"""Keyword search ranks the same on SQLite FTS5 and PostgreSQL: same terms, same BM25, same labelled-query recall."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest
from sqlalchemy import text

from clara_ray.datasets.corpus import CorpusRepository
from clara_ray.datasets.documents import Document
from clara_ray.datasets.ingest.stages import IngestOptions, prepare_batch
from clara_ray.datasets.stores.keyword_sql import keyword_index
from clara_ray.db.engine import Database
from clara_ray.resources import documents_path, load_jsonl

from test_ds_search import LABELLED, relevant

TOLERANCE = 0.01  # recall@10 may differ by this much (floating-point ties can order differently at rank 10)


@pytest.fixture(scope="module")
def chunked_corpus():
    """The bundled corpus through the real parse and chunk stage: (document, its chunk rows) per document."""
    docs = load_jsonl(documents_path())
    out = prepare_batch({"path": ["corpus"] * len(docs), "kind": ["json"] * len(docs),
                         "payload": [json.dumps(d, ensure_ascii=False) for d in docs]}, opts=IngestOptions())
    by_doc = defaultdict(list)
    meta = {}
    for i in range(len(out["status"])):
        doc_id = str(out["doc_id"][i])
        if out["doc"][i]:
            meta[doc_id] = Document(**json.loads(out["doc"][i])["doc"])
        by_doc[doc_id].append({"id": str(out["chunk_id"][i]), "doc_id": doc_id, "position": int(out["position"][i]),
                               "text": str(out["chunk_text"][i])})
    return [(meta[d], rows) for d, rows in by_doc.items()]


def keyword_store(url: str, corpus, postings: bool = True):
    db = Database(url)
    idx = keyword_index(db, postings=postings)
    with db.session() as s:
        CorpusRepository(db).upsert(s, [(doc, [], len(rows)) for doc, rows in corpus])
        idx.replace(s, [doc.id for doc, _ in corpus],
                    [{**r, "title": doc.title} for doc, rows in corpus for r in rows])
    return db, idx


def test_labelled_queries_rank_alike_on_sqlite_and_postgresql(chunked_corpus, pg_url, tmp_path):
    lite_db, lite = keyword_store(f"sqlite:///{tmp_path / 'k.db'}", chunked_corpus)
    pg_db, pg = keyword_store(pg_url, chunked_corpus)
    try:
        queries = [q for _, _, _, q in LABELLED] + ["10 C 370/16", "§ 35 BauGB Außenbereich", "Bürgergeld Miete"]
        recall, same_top, score_gap = {"sqlite": 0.0, "postgresql": 0.0}, 0, 0.0
        for query in queries:
            a, b = lite.search(query, 10), pg.search(query, 10)
            assert a and b, query
            same_top += [h.doc_id for h in a] == [h.doc_id for h in b]
            # The same BM25 on both: every document's score agrees (relative difference).
            sb = {h.doc_id: h.score for h in b}
            score_gap = max(score_gap, *(abs(h.score - sb[h.doc_id]) / h.score for h in a if h.doc_id in sb))
        for _, topic, domain, query in LABELLED:
            rel = relevant(topic, domain)
            for name, idx in (("sqlite", lite), ("postgresql", pg)):
                recall[name] += len(rel & {h.doc_id for h in idx.search(query, 10)}) / min(len(rel), 10) / len(LABELLED)
        print("keyword recall@10", json.dumps({k: round(v, 3) for k, v in recall.items()}),
              f"identical top-10: {same_top}/{len(queries)}, largest score difference {score_gap:.2e}")
        assert abs(recall["sqlite"] - recall["postgresql"]) <= TOLERANCE, recall
        assert same_top >= len(queries) - 2 and score_gap < 1e-6, (same_top, score_gap)
        assert recall["sqlite"] >= 0.55, recall
    finally:
        lite_db.dispose()
        pg_db.dispose()


def test_postgresql_index_survives_replace_and_filters(chunked_corpus, pg_url):
    """Replacing a document's chunks updates the PostgreSQL statistics (no stale terms); filters still apply."""
    from clara_ray.datasets.filters import SearchFilters

    db, idx = keyword_store(pg_url, chunked_corpus[:40])
    try:
        doc, rows = chunked_corpus[0]
        with db.session() as s:
            idx.replace(s, [doc.id], [{"id": f"{doc.id}#0", "doc_id": doc.id, "position": 0, "title": doc.title,
                                       "text": "Schweinemastanlage Zwergfledermaus"}])
        assert [h.doc_id for h in idx.search("Zwergfledermaus", 5)] == [doc.id]
        assert idx.search("Zwergfledermaus", 5, SearchFilters(domain=[doc.domain]))[0].doc_id == doc.id
        other = next(d for d in ("baurecht", "steuerrecht", "sozialrecht") if d != doc.domain)
        assert idx.search("Zwergfledermaus", 5, SearchFilters(domain=[other])) == []
        with db.engine.connect() as c:
            n, tsv = c.execute(text("SELECT n_terms, tsv::text FROM corpus_chunks WHERE id = :i"),
                               {"i": f"{doc.id}#0"}).one()
        from clara_ray.datasets.text import terms

        assert n == len(terms(doc.title)) + 2 and "'zwergfledermaus':" in tsv and "'schweinemastanlag':" in tsv
    finally:
        db.dispose()


def _ranked(hits) -> list[tuple[str, str, float]]:
    return [(h.doc_id, h.chunk_id, round(h.score, 9)) for h in hits]


def test_postings_rank_exactly_as_the_database_and_follow_other_writers(chunked_corpus, db_url):
    """In-memory postings give the database's own ranking (SQLite FTS5's bm25(), PostgreSQL's BM25 query); a write
    from another connection (another process) makes them stale, the database answers until they are rebuilt, and
    the rebuilt ones see the write."""
    url = db_url
    db, fts = keyword_store(url, chunked_corpus, postings=False)
    mem_db = Database(url)
    mem = keyword_index(mem_db)
    writer_db = Database(url)
    writer = keyword_index(writer_db, postings=False)
    try:
        mem.warm()
        first = mem.postings.snapshot
        assert first is not None and len(first.seqs) == sum(len(rows) for _, rows in chunked_corpus)
        queries = [q for _, _, _, q in LABELLED] + ["10 C 370/16", "§ 35 BauGB Außenbereich", "Bürgergeld Miete",
                                                    "Baugenehmigung Baugenehmigung", "Außenbereich aussenbereich"]
        from clara_ray.datasets.filters import SearchFilters

        selective = [SearchFilters(domain=["steuerrecht"]), SearchFilters(min_quality=0.9, document_type=["faq"]),
                     SearchFilters(domain=["baurecht"], date_from="2020-01-01")]
        filtered_found = 0
        for query in queries:
            for limit in (5, 10, 50):
                assert _ranked(mem.search(query, limit)) == _ranked(fts.search(query, limit)), (query, limit)
            for f in selective:  # the postings rank, the database filters block by block
                got = mem.search(query, 10, f)
                assert _ranked(got) == _ranked(fts.search(query, 10, f)), (query, f)
                filtered_found += bool(got)
        assert filtered_found >= len(queries)  # the filters leave results to compare
        with mem_db.session() as s:
            assert mem.postings.current(s) is first  # nothing written: the snapshot answered those searches

        doc, _ = chunked_corpus[0]
        with writer_db.session() as s:
            writer.replace(s, [doc.id], [{"id": f"{doc.id}#0", "doc_id": doc.id, "position": 0, "title": doc.title,
                                          "text": "Schweinemastanlage Zwergfledermaus"}])
        # Stale now: the database answers (the new term is found) while the postings rebuild.
        assert [h.doc_id for h in mem.search("Zwergfledermaus", 5)] == [doc.id]
        mem.warm()
        rebuilt = mem.postings.snapshot
        assert rebuilt.generation > first.generation and "zwergfledermaus" in rebuilt.term_ids
        with mem_db.session() as s:
            assert mem.postings.current(s) is rebuilt
        for query in ["Zwergfledermaus", *queries[:10]]:
            assert _ranked(mem.search(query, 10)) == _ranked(fts.search(query, 10)), query
        with writer_db.session() as s:
            writer.delete(s, [doc.id])
        mem.warm()
        assert mem.search("Zwergfledermaus", 5) == [] and fts.search("Zwergfledermaus", 5) == []
    finally:
        for d in (db, mem_db, writer_db):
            d.dispose()
