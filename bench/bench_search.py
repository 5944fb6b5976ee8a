"""Benchmark the dataset service: Ray Data ingest throughput, hybrid search latency and recall@10 per source.

Builds a synthetic-but-realistic German administrative-law corpus with the bundled corpus generator's
document builders (statute excerpts, judgments, guidelines, FAQs over 5 domains x ~13 topics each, with
random dates, courts, file numbers and quality scores), labels every document with its primary topic,
ingests it through the Ray Data pipeline into Chroma + ladybug + SQLite FTS5 (or PostgreSQL with
--database-url), then runs a labelled query set of three kinds per topic:
  keyword  the topic's key term ("Außenbereich")
  graph    a provision of the topic with the statute's full name ("§ 35 Baugesetzbuch")
  vector   the topic described in words ("ein Vorhaben im Außenbereich")
A document is relevant when its primary topic (and domain) is the query's. Every topic has far more than
10 relevant documents, so recall@10 here equals precision@10.

    python -m bench.bench_search --docs 100000 --embedding-backend static   # the issue's size (~30 min on 2 CPUs)
    python -m bench.bench_search --docs 10000 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from clara_ray.datasets.entities import STATUTES  # noqa: E402
from scripts.corpus import documents as gen  # noqa: E402
from scripts.corpus import (  # noqa: E402
    vocab_baurecht,
    vocab_sozialrecht,
    vocab_steuerrecht,
    vocab_umweltrecht,
    vocab_verwaltungsverfahren,
)

VOCABS = [vocab_baurecht, vocab_sozialrecht, vocab_steuerrecht, vocab_umweltrecht, vocab_verwaltungsverfahren]


def build_corpus(n: int, seed: int = 7) -> list[dict]:
    """n documents; unlike the bundled generator, titles may repeat (a 100k corpus has too few templates)."""
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        vocab = VOCABS[i % len(VOCABS)]
        doc_type = gen.DOCUMENT_TYPES[(i // len(VOCABS)) % len(gen.DOCUMENT_TYPES)]
        primary = rng.choice(vocab.TOPICS)
        topics = gen._topics(rng, vocab, primary)
        date = gen._date(rng)
        title, paras = gen._BUILDERS[doc_type](rng, vocab, topics, date)
        docs.append({"id": f"syn-{i:06d}", "title": title, "text": gen._fit(rng, vocab, paras),
                     "document_type": doc_type, "domain": vocab.DOMAIN, "date": date,
                     "source": gen._source(rng, vocab, doc_type, title), "quality_score": round(rng.uniform(0.4, 0.99), 2),
                     "topic": primary["kw"]})
    return docs


def labelled_queries() -> list[dict]:
    out = []
    for vocab in VOCABS:
        for t in vocab.TOPICS:
            ref = t["refs"][0]
            abbr = ref.split(" ", 2)[-1]
            full = ref.replace(abbr, STATUTES[abbr]) if abbr in STATUTES and "SGB" not in abbr else None
            label = {"topic": t["kw"], "domain": vocab.DOMAIN}
            out.append({**label, "kind": "keyword", "query": t["kw"]})
            if full:
                out.append({**label, "kind": "graph", "query": full})
            out.append({**label, "kind": "vector", "query": t["thing"]})
    return out


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def run_queries(svc, queries: list[dict], modes: tuple[str, ...], topic_of: dict) -> tuple[dict, dict]:
    """Every labelled query in every mode: (latency ms per mode, recall@10 per mode and query kind)."""
    from clara_ray.datasets.schemas import SearchRequest

    recall = {m: {} for m in modes}
    latency = {m: [] for m in modes}
    for m in modes:
        for q in queries:
            t = time.perf_counter()
            res = svc.search(SearchRequest(query=q["query"], top_k=10, include_text=False), m)
            latency[m].append((time.perf_counter() - t) * 1000)
            hits = [r["document"]["id"] for r in res["results"]]
            ok = sum(1 for h in hits if topic_of.get(h) == (q["topic"], q["domain"])) / 10
            recall[m].setdefault(q["kind"], []).append(ok)
    return latency, recall


def summary(latency: dict[str, list[float]]) -> dict:
    return {m: {"p50": round(statistics.median(v), 1), "p95": round(percentile(v, 95), 1)} for m, v in latency.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--database-url", default="", help="default: SQLite in the work folder")
    ap.add_argument("--work-dir", default="", help="default: a temporary folder")
    ap.add_argument("--local", action="store_true", help="ingest in-process instead of Ray Data")
    ap.add_argument("--embedding-threads", type=int, default=1, help="torch threads for query embedding")
    ap.add_argument("--embed-threads", type=int, default=2, help="threads of the ingest embedding actor")
    ap.add_argument("--embedding-backend", default="torch", choices=("torch", "onnx", "onnx-int8", "static"),
                    help="datasets.embedding_backend for ingest and queries")
    ap.add_argument("--json", default="", help="also write the results here")
    ap.add_argument("--skip-ingest", action="store_true", help="query an existing --work-dir store (same --docs)")
    args = ap.parse_args()

    from clara_ray.config import load_settings
    from clara_ray.datasets.schemas import IngestRequest, SearchRequest
    from clara_ray.datasets.service import DatasetService
    from clara_ray.datasets.settings import DatasetSettings
    from clara_ray.ray_runtime import init_ray

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="clara-bench-search-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ["CLARA_CONFIG"] = str(work / "none.yaml")
    storage = {"data_dir": work / "clara", **({"database_url": args.database_url} if args.database_url else {})}
    settings = load_settings(storage=storage, ray={"num_cpus": 2})
    t0 = time.perf_counter()
    docs = build_corpus(args.docs)
    path = work / "corpus.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    print(f"corpus: {len(docs)} documents, {path.stat().st_size / 1e6:.1f} MB, built in {time.perf_counter() - t0:.1f}s",
          flush=True)

    if not args.local and not args.skip_ingest:
        init_ray(settings)
    svc = DatasetService(settings, dataset_settings=DatasetSettings(
        embedding_threads=args.embedding_threads, embed_threads=args.embed_threads,
        embedding_backend=args.embedding_backend, ingest_roots=[str(work)]))
    ingest = {"seconds": None, "docs_per_s": None, "mode": "skipped"} if args.skip_ingest else \
        svc.ingest(IngestRequest(paths=[str(path)], use_ray=not args.local))
    print("ingest:", json.dumps({k: v for k, v in ingest.items() if k != "rejected_examples"}), flush=True)
    stats = svc.corpus_stats()

    topic_of = {d["id"]: (d["topic"], d["domain"]) for d in docs}
    queries = labelled_queries()
    t = time.perf_counter()
    svc.search(SearchRequest(query=queries[0]["query"], top_k=10, include_text=False), "hybrid")
    first_query_ms = round((time.perf_counter() - t) * 1000)  # loads the query encoder and the graph's postings
    t = time.perf_counter()
    svc.warm_keyword_index()  # SQLite: the keyword postings (the first search started their build)
    postings = getattr(svc.stores.keyword, "postings", None)
    keyword_postings = None if postings is None or postings.snapshot is None else {
        "ready_after_s": round(time.perf_counter() - t, 1), "mb": round(postings.snapshot.nbytes / 1e6),
        "postings": len(postings.snapshot.rows), "terms": len(postings.snapshot.term_ids)}
    print("keyword postings:", keyword_postings, flush=True)
    for q in queries[1:5]:  # warm-up: caches
        svc.search(SearchRequest(query=q["query"], top_k=10, include_text=False), "hybrid")
    modes = ("vector", "graph", "keyword", "hybrid")
    latency, recall = run_queries(svc, queries, modes, topic_of)
    rrf = []
    for q in queries:
        res = svc.search(SearchRequest(query=q["query"], top_k=10, include_text=False, fusion="rrf"), "hybrid")
        rrf.append(sum(1 for r in res["results"] if topic_of.get(r["document"]["id"]) == (q["topic"], q["domain"])) / 10)
    by_db, by_db_recall, keyword_scores_identical = {}, {}, None
    if postings is not None:  # side by side, same run: keyword and hybrid again with the database scoring every match
        from clara_ray.datasets.stores.keyword_sql import keyword_index

        with_postings, svc.stores.keyword = svc.stores.keyword, keyword_index(svc.db, svc.cfg.keyword_scan_shards, False)
        by_db, by_db_recall = run_queries(svc, queries, ("keyword", "hybrid"), topic_of)
        # The same BM25 scores rank by rank; equal scores (repeated template text) may come in another order.
        keyword_scores_identical = sum(
            [round(h.score, 9) for h in with_postings.search(q["query"], 50)]
            == [round(h.score, 9) for h in svc.stores.keyword.search(q["query"], 50)] for q in queries)
        print(f"keyword scores rank by rank, postings vs the database: identical for {keyword_scores_identical}/{len(queries)} "
              "queries", flush=True)
        svc.stores.keyword.close()
        svc.stores.keyword = with_postings

    result = {
        "documents": len(docs), "chunks": stats["chunks"], "database": svc.db.engine.dialect.name,
        "embedding_backend": args.embedding_backend, "chunks_truncated": ingest.get("chunks_truncated"),
        "ingest_seconds": ingest["seconds"], "ingest_docs_per_s": ingest["docs_per_s"], "ingest_mode": ingest["mode"],
        "ingest_chunks_per_s": round(ingest["chunks_written"] / ingest["seconds"], 1) if ingest.get("seconds") else None,
        "queries": len(queries), "first_query_ms": first_query_ms,
        "latency_ms": summary(latency), "keyword_postings": keyword_postings,
        "latency_ms_database_scoring_every_match": summary(by_db), "keyword_scores_identical": keyword_scores_identical,
        "recall_at_10": {m: {"all": round(statistics.mean(x for v in r.values() for x in v), 3),
                             **{k: round(statistics.mean(v), 3) for k, v in r.items()}} for m, r in recall.items()},
        "recall_at_10_hybrid_rrf": round(statistics.mean(rrf), 3),
        "recall_at_10_database_scoring": {m: round(statistics.mean(x for v in r.values() for x in v), 3)
                                          for m, r in by_db_recall.items()},
        # Memory: this process (API-side stores and query encoder) at its peak, and the stores on disk.
        "driver_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "data_dir_mb": round(sum(f.stat().st_size for f in (work / "clara").rglob("*") if f.is_file()) / 1e6),
    }
    print(json.dumps(result, indent=2))
    print(f"\n| docs | ingest docs/s | hybrid P50 / P95 ms | recall@10 vector / graph / keyword / hybrid (rrf) |\n"
          f"|---|---|---|---|\n| {len(docs)} | {ingest['docs_per_s']} | {result['latency_ms']['hybrid']['p50']} / "
          f"{result['latency_ms']['hybrid']['p95']} | " + " / ".join(str(result["recall_at_10"][m]["all"]) for m in modes)
          + f" ({result['recall_at_10_hybrid_rrf']}) |")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    svc.close()


if __name__ == "__main__":
    main()
