"""Store contracts: graph (embedded ladybug and Neo4j), keyword index (SQLite FTS5 and PostgreSQL), Chroma (embedded and HTTP)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from clara_ray.datasets.entities import extract, query_keys
from clara_ray.datasets.filters import SearchFilters
from clara_ray.datasets.stores.base import GraphDocument

from ds_fixtures import DOCS

NEO4J_SKIP = ("NEO4J_URI is not set: no Neo4j server runs on this machine (none can be installed here); "
              "set NEO4J_URI, NEO4J_USER, NEO4J_PASSWORD to run the Neo4j graph contract tests")


def graph_docs(docs=DOCS) -> list[GraphDocument]:
    out = []
    for d in docs:
        ex = extract(d["title"] + "\n" + d["text"])
        out.append(GraphDocument(d["id"], d["title"], d["document_type"], d["domain"], int(d["date"].replace("-", "")),
                                 d["quality_score"], ex.entities, sorted(ex.part_of)))
    return out


class _EmbeddedNeo4jDriver:
    """Stands in for neo4j.GraphDatabase.driver(...): runs the Cypher on the embedded engine, answers like the driver.

    Exercises Neo4jGraphStore's own code (connect, schema, execute_query, record handling); the real-server run
    needs NEO4J_URI."""

    def __init__(self, path):
        import neo4j

        from clara_ray.datasets.stores.graph_ladybug import LadybugGraphStore

        self.engine = LadybugGraphStore(path)
        self.record = neo4j.Record

    def verify_connectivity(self):
        return None

    def execute_query(self, query_, parameters_=None, routing_=None, database_=None, **kw):
        if query_.startswith("CREATE CONSTRAINT"):  # Neo4j schema DDL; the embedded schema has primary keys
            return [], None, []
        rows = self.engine._run(query_.replace("WHERE n:Document OR n:Entity", ""), parameters_)
        return [self.record(list(zip([f"c{i}" for i in range(len(r))], r, strict=True))) for r in rows], None, []

    def close(self):
        self.engine.close()


@pytest.fixture(params=["ladybug", "neo4j-driver", "neo4j"])
def graph(request, tmp_path, monkeypatch):
    if request.param == "ladybug":
        from clara_ray.datasets.stores.graph_ladybug import LadybugGraphStore

        g = LadybugGraphStore(tmp_path / "graph" / "g.lbdb")
    elif request.param == "neo4j-driver":
        import neo4j

        from clara_ray.datasets.stores.graph_neo4j import Neo4jGraphStore

        monkeypatch.setattr(neo4j.GraphDatabase, "driver",
                            lambda uri, auth: _EmbeddedNeo4jDriver(tmp_path / "graph" / "n.lbdb"))
        g = Neo4jGraphStore("bolt://embedded", "neo4j", "pw")
    else:
        if not os.environ.get("NEO4J_URI"):
            pytest.skip(NEO4J_SKIP)
        from clara_ray.datasets.stores.graph_neo4j import Neo4jGraphStore

        g = Neo4jGraphStore(os.environ["NEO4J_URI"], os.environ.get("NEO4J_USER", "neo4j"),
                            os.environ.get("NEO4J_PASSWORD", ""), os.environ.get("NEO4J_DATABASE"))
        g.clear()
    yield g
    if request.param == "neo4j":
        g.clear()
    g.close()


def test_graph_upsert_search_and_expansion(graph):
    graph.upsert_documents(graph_docs())
    assert graph.stats()["documents"] == len(DOCS)
    hits = graph.search(query_keys("§ 35 BauGB"), 10)
    assert hits[0].doc_id == "bau-1" and "ref:§ 35 BauGB" in hits[0].matched
    # Full statute name in the query, abbreviation in the text.
    assert graph.search(query_keys("Bundesnaturschutzgesetz"), 5)[0].doc_id == "umw-1"
    assert graph.search(query_keys("Abgabenordnung"), 5)[0].doc_id in {"steu-1", "steu-2"}
    # PART_OF expansion: a provision query also reaches other documents on the same statute.
    ids = [h.doc_id for h in graph.search(query_keys("§ 347 AO"), 10)]
    assert ids[0] == "steu-2" and "steu-1" in ids
    names = {e["key"] for e in graph.document_entities("soz-1")}
    assert {"ref:§ 22 SGB II", "statute:SGB II"} <= names
    assert graph.search(["kw:nothing-like-this"], 5) == []


def test_graph_filters(graph):
    graph.upsert_documents(graph_docs())
    keys = query_keys("§ 240 AO § 347 AO")
    assert {h.doc_id for h in graph.search(keys, 10)} >= {"steu-1", "steu-2"}
    assert {h.doc_id for h in graph.search(keys, 10, SearchFilters(document_type=["urteil"]))} == {"steu-2"}
    assert {h.doc_id for h in graph.search(keys, 10, SearchFilters(date_from="2020-01-01"))} == {"steu-1"}
    assert {h.doc_id for h in graph.search(keys, 10, SearchFilters(min_quality=0.9))} == set()


def test_graph_reingest_replaces_edges_and_cooccurrence(graph):
    docs = graph_docs()
    graph.upsert_documents(docs)
    before = graph.stats()
    graph.upsert_documents(docs)  # same content again: nothing doubles
    assert graph.stats() == before
    w = {n["key"]: n["weight"] for n in graph.neighbours("ref:§ 240 AO")}
    assert w["statute:AO"] == 1
    changed = graph_docs([{**DOCS[2], "title": "Verspätungszuschlag", "text": "Nur noch § 152 AO zum Verspätungszuschlag."}])
    graph.upsert_documents(changed)
    assert graph.search(["ref:§ 240 AO"], 5) == []
    assert graph.neighbours("ref:§ 240 AO") == []  # co-occurrence counts of the old version were subtracted
    assert graph.search(query_keys("§ 152 AO"), 5)[0].doc_id == "steu-1"
    graph.delete_documents(["steu-1"])
    assert graph.stats()["documents"] == len(DOCS) - 1



def test_embedded_graph_postings_rank_as_the_database_does(tmp_path):
    """The embedded store scores and counts co-occurrence from in-memory postings; after they are loaded, replaced
    and deleted documents must leave them ranking exactly as a database-only store's aggregate queries over its
    MENTIONS and CO_OCCURS edges, written with the same documents."""
    from clara_ray.datasets.stores.graph_ladybug import LadybugGraphStore
    from clara_ray.resources import documents_path, load_jsonl

    corpus = [{**d, "date": d.get("date") or "2020-01-01"} for d in load_jsonl(documents_path())]
    g, db_only = LadybugGraphStore(tmp_path / "g.lbdb"), LadybugGraphStore(tmp_path / "db.lbdb", postings=False)

    def write(docs=None, delete=None):
        for store in (g, db_only):
            if docs:
                store.upsert_documents(graph_docs(docs))
            if delete:
                store.delete_documents(delete)

    write(corpus[:200])
    queries = [("§ 35 BauGB", None), ("Baugesetzbuch Außenbereich", None), ("§ 240 AO Säumniszuschlag", None),
               ("Sozialgesetzbuch", SearchFilters(document_type=["urteil"])), ("§ 22 SGB II", None),
               ("Bundesnaturschutzgesetz", SearchFilters(date_from="2019-01-01", min_quality=0.5)),
               ("Kindergeld Einkommensteuergesetz", SearchFilters(domain=["steuerrecht"])),
               ("Bebauungsplan Baugenehmigung Nachbar", None), ("Widerspruch Bescheid Jobcenter", None)]
    seeds = ["ref:§ 35 BauGB", "statute:AO", "kw:baugenehmig", "ref:§ 22 SGB II"]

    def both():
        def run(store):
            ranked = [[(h.doc_id, round(h.score, 9), h.matched) for h in store.search(query_keys(q), 20, f)]
                      for q, f in queries]
            return ranked, [store.neighbours(k, 8) for k in seeds], store._cooccurring(seeds, 40)
        return run(g), run(db_only)

    fast, slow = both()  # loads the postings from the database
    assert fast == slow and sum(map(len, fast[0])) > 40 and g.postings.loaded
    assert sum(map(len, fast[1])) > 10  # co-occurrence found for the seeds
    # Writes after loading: new documents, changed ones (their old mentions must stop counting), deleted ones.
    changed = [{**d, "text": "Nur noch § 35 BauGB und § 240 AO. " + d["text"][:200]} for d in corpus[:30]]
    write(corpus[200:] + changed, [d["id"] for d in corpus[30:60]])
    fast, slow = both()
    assert fast == slow and g.document_count() == len(corpus) - 30
    # Enough replacements to compact the rows; still the same ranking.
    for _ in range(3):
        write(corpus[60:])
    assert g.postings.dead < len(g.postings.docs) / 2
    assert both()[0] == both()[1]
    assert db_only._run("MATCH ()-[r:CO_OCCURS]->() RETURN count(r)")[0][0] > 0
    assert g._run("MATCH ()-[r:CO_OCCURS]->() RETURN count(r)")[0][0] == 0  # counted in memory instead
    g.close()
    db_only.close()


# ---------------------------------------------------------------- keyword index (SQLite FTS5 / PostgreSQL)
def _index_docs(db, docs=DOCS):
    from clara_ray.datasets.corpus import CorpusRepository
    from clara_ray.datasets.documents import parse_document
    from clara_ray.datasets.stores.keyword_sql import keyword_index

    repo, kw = CorpusRepository(db), keyword_index(db)
    parsed = [parse_document(d) for d in docs]
    with db.session() as s:
        repo.upsert(s, [(d, [], 1) for d in parsed])
        kw.replace(s, [d.id for d in parsed], [{"id": f"{d.id}#0", "doc_id": d.id, "position": 0, "title": d.title,
                                                 "text": d.text} for d in parsed])
    return repo, kw


def test_keyword_index_ranks_filters_and_updates(db):
    repo, kw = _index_docs(db)
    assert type(kw).__name__ == {"sqlite": "SqliteFtsIndex", "postgresql": "PostgresFtsIndex"}[db.engine.dialect.name]
    hits = kw.search("Säumniszuschläge Fälligkeitstag", 5)  # inflected forms still match (stemming)
    assert hits[0].doc_id == "steu-1" and hits[0].chunk_id == "steu-1#0" and hits[0].score > 0
    assert [h.doc_id for h in kw.search("Grenzgaragen Abstandsflächen", 5)][0] == "bau-2"
    assert kw.search("Säumniszuschlag", 5, SearchFilters(domain=["baurecht"])) == []
    assert isinstance(kw.search('"; DROP TABLE corpus_chunks; -- OR NEAR( * ^', 5), list)  # syntax-free: only data
    assert kw.search("und oder der", 5) == []  # stop words only
    # Incremental update: replace one document's chunks; the old terms disappear, nothing is rebuilt.
    from clara_ray.datasets.documents import parse_document

    new = parse_document({**DOCS[2], "text": "Verspätungszuschlag bei verspäteter Abgabe der Steuererklärung."})
    with db.session() as s:
        repo.upsert(s, [(new, [], 1)])
        kw.replace(s, [new.id], [{"id": "steu-1#0", "doc_id": new.id, "position": 0, "title": new.title,
                                  "text": new.text}])
    assert kw.search("Fälligkeitstag", 5) == []
    assert kw.search("Verspätungszuschlag", 5)[0].doc_id == "steu-1"
    with db.session() as s:
        kw.delete(s, ["steu-1"])
    assert kw.search("Verspätungszuschlag", 5) == []


# ---------------------------------------------------------------- Chroma: embedded and a real `chroma run` server
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    # Linux: the server gets SIGTERM when the test process dies, even without fixture teardown.
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory):
    """A real Chroma server (`chroma run`, same package) on a free port."""
    exe = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    if not Path(exe).exists():
        pytest.skip("the `chroma` command of the chromadb package is not installed")
    port = _free_port()
    log = tmp_path_factory.mktemp("chroma-server") / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([exe, "run", "--path", str(log.parent / "data"), "--host", "127.0.0.1",
                                 "--port", str(port)], stdout=out, stderr=subprocess.STDOUT,
                                preexec_fn=_die_with_parent)
    import chromadb
    from chromadb.config import Settings

    deadline = time.time() + 60
    while True:
        try:
            chromadb.HttpClient(host="127.0.0.1", port=port, settings=Settings(anonymized_telemetry=False)).heartbeat()
            break
        except Exception:  # noqa: BLE001 - not up yet
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail(f"chroma server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.3)
    yield port
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(params=["persistent", "http"])
def vector(request, tmp_path):
    from clara_ray.datasets.stores.vector_chroma import ChromaVectorStore

    if request.param == "http":
        port = request.getfixturevalue("chroma_server")
        return ChromaVectorStore(mode="http", host="127.0.0.1", port=port, collection=f"t{tmp_path.name[-20:]}")
    return ChromaVectorStore(path=str(tmp_path / "chroma"))


def _unit(rows):
    v = np.asarray(rows, dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_chroma_contract(vector):
    vecs = _unit([[1, 0, 0, 0], [0.9, 0.1, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]])
    meta = [{"doc_id": d, "document_type": t, "domain": dom, "date_int": di, "quality_score": q, "position": p}
            for d, t, dom, di, q, p in [("a", "gesetz", "baurecht", 20200101, 0.9, 0),
                                        ("a", "gesetz", "baurecht", 20200101, 0.9, 1),
                                        ("b", "faq", "steuerrecht", 20220101, 0.4, 0),
                                        ("c", "urteil", "baurecht", 20150101, 0.7, 0)]]
    vector.upsert(["a#0", "a#1", "b#0", "c#0"], vecs, meta)
    assert vector.count() == 4
    hits = vector.query(vecs[0], 10)
    assert [h.doc_id for h in hits][0] == "a" and len({h.doc_id for h in hits}) == len(hits) == 3
    assert hits[0].chunk_id == "a#0" and hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert [h.doc_id for h in vector.query(vecs[0], 10, SearchFilters(domain=["steuerrecht"]))] == ["b"]
    assert [h.doc_id for h in vector.query(vecs[0], 10, SearchFilters(date_to="2016-01-01"))] == ["c"]
    assert {h.doc_id for h in vector.query(vecs[0], 10, SearchFilters(min_quality=0.5, document_type=["gesetz"]))} == {"a"}
    vector.upsert(["a#0"], vecs[2:3], meta[:1])  # upsert replaces, never duplicates
    assert vector.count() == 4
    vector.delete_documents(["a"])
    assert vector.count() == 2
    sims = vector.nearest_similarity(vecs[2:3])
    assert sims[0] == pytest.approx(1.0, abs=1e-4)


def test_result_views_are_the_document_views_on_both_databases(db):
    """What search results show of a document, read as plain rows: document_view's fields (extra included when
    set), the text's head cut by characters, not bytes (umlauts), the whole text only when asked."""
    from clara_ray.datasets.corpus import document_view
    from clara_ray.datasets.documents import parse_document

    repo, _ = _index_docs(db)
    wide = parse_document({"id": "umlaut-1", "title": "Äußerung", "text": "Ä" * 50 + "ß" * 500,
                           "domain": "baurecht", "aktenzeichen": "1 K 2/26"})
    with db.session() as s:
        repo.upsert(s, [(wide, [], 1)])
    ids = [d["id"] for d in DOCS] + [wide.id, "not-there"]
    rows = repo.get_many(ids)
    for text in (True, False):
        views = repo.result_views(ids, text=text, head_chars=60)
        assert set(views) == set(rows) and "not-there" not in views
        for doc_id, (view, head) in views.items():
            assert view == document_view(rows[doc_id], text=text) and head == rows[doc_id].text[:60]
    assert views[wide.id][0]["extra"] == {"aktenzeichen": "1 K 2/26"} and views[wide.id][1] == "Ä" * 50 + "ß" * 10
    assert repo.result_views([], text=False, head_chars=60) == {}
