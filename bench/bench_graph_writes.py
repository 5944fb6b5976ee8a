"""Benchmark the embedded graph store's writes: today's (MENTIONS by COPY, co-occurrence counted in memory) vs before
(per-edge UNWIND ... CREATE for MENTIONS, a CO_OCCURS MERGE per entity pair).

Both write the same synthetic German corpus (bench_search.build_corpus, entities extracted as ingest does) in
ingest's write batches into two fresh ladybug stores, one after the other in this process: the embedded store as
configured, and a database-only one (`postings=False`, CypherGraphStore's generic edge writes: what Neo4j runs).
Reported: seconds per batch at the start and at the end (edge writes grow with the tables), documents per
second, and that both rank every labelled graph query alike (the database-only store by aggregate queries).

    python -m bench.bench_graph_writes                  # 5,000 documents in batches of 256
    python -m bench.bench_graph_writes --docs 20000 --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from bench.bench_search import build_corpus, labelled_queries  # noqa: E402


def graph_documents(n: int) -> list:
    from clara_ray.datasets.entities import extract
    from clara_ray.datasets.filters import date_int
    from clara_ray.datasets.stores.base import GraphDocument

    out = []
    for d in build_corpus(n):
        ex = extract(d["title"] + "\n" + d["text"])
        out.append(GraphDocument(d["id"], d["title"], d["document_type"], d["domain"], date_int(d["date"]),
                                 d["quality_score"], ex.entities, sorted(ex.part_of)))
    return out


def write_all(store, docs: list, batch: int) -> list[float]:
    seconds = []
    for i in range(0, len(docs), batch):
        t = time.perf_counter()
        store.upsert_documents(docs[i:i + batch])
        seconds.append(time.perf_counter() - t)
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=256, help="documents per write (datasets.write_batch_docs)")
    ap.add_argument("--json", default="")
    args = ap.parse_args()

    from clara_ray.datasets.entities import query_keys
    from clara_ray.datasets.stores.graph_cypher import CypherGraphStore
    from clara_ray.datasets.stores.graph_ladybug import LadybugGraphStore

    class PerEdgeStore(LadybugGraphStore):  # the generic Cypher edge writes, on the same embedded database
        _create_mentions = CypherGraphStore._create_mentions

        def __init__(self, path):
            super().__init__(path, postings=False)

    docs = graph_documents(args.docs)
    edges = sum(len(d.entities) for d in docs)
    print(f"{len(docs)} documents, {edges} MENTIONS edges", flush=True)
    work = Path(tempfile.mkdtemp(prefix="clara-bench-graph-"))
    rows, stores = {}, {}
    for name, cls in (("embedded: COPY, co-occurrence in memory", LadybugGraphStore),
                      ("database-only: per-edge UNWIND, CO_OCCURS MERGE", PerEdgeStore)):
        store = stores[name] = cls(work / name.split(":")[0] / "g.lbdb")
        secs = write_all(store, docs, args.batch)
        k = max(1, len(secs) // 10)
        rows[name] = {"seconds": round(sum(secs), 1), "docs_per_s": round(len(docs) / sum(secs), 1),
                      "first_batches_s": round(sum(secs[:k]) / k, 3), "last_batches_s": round(sum(secs[-k:]) / k, 3)}
        print(name, json.dumps(rows[name]), flush=True)
    queries = [q["query"] for q in labelled_queries() if q["kind"] == "graph"]
    a, b = stores.values()
    same = all([h.doc_id for h in a.search(query_keys(q), 10)] == [h.doc_id for h in b.search(query_keys(q), 10)]
               for q in queries)
    bulk, per_edge = rows.values()
    print("\n| writer | total s | docs/s | s per batch, first / last tenth |\n|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['seconds']} | {r['docs_per_s']} | {r['first_batches_s']} / {r['last_batches_s']} |")
    print(f"embedded / database-only: {per_edge['seconds'] / bulk['seconds']:.1f}x faster; "
          f"{len(queries)} graph queries rank alike: {same}")
    if args.json:
        Path(args.json).write_text(json.dumps({"docs": len(docs), "mentions": edges, "rows": rows, "same": same}))
    for s in stores.values():
        s.close()


if __name__ == "__main__":
    main()
