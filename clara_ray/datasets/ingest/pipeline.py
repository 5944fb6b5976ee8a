"""Corpus ingest: read -> validate -> chunk -> extract entities -> embed -> write to the three stores.

Ray Data runs the per-document work (parse/validate/chunk/extract as fractional-CPU tasks; embedding
in an actor that holds the model), then the driver streams the result batches into the stores: the
embedded stores (Chroma, ladybug, SQLite) are single-process, so writes never happen inside Ray tasks.
`use_ray=False` runs the same batch functions in-process (small inputs, unit tests).

Re-ingest: a document is keyed by its id (or, without one, a hash of its text); when its content hash
is unchanged it is skipped before embedding; otherwise its old chunks, vectors and graph edges are
replaced, so nothing is duplicated.
"""

from __future__ import annotations

import json
import time

from clara_ray.datasets.readers import expand_paths, payloads_local, ray_dataset
from clara_ray.datasets.ingest.stages import EmbedBatch, IngestOptions, prepare_batch
from clara_ray.datasets.ingest.writer import CorpusWriter

__all__ = ["IngestOptions", "run_ingest"]


def run_ingest(stores, paths: list[str] | None = None, *, records: list[dict] | None = None, opts: IngestOptions,
               use_ray: bool = True, force: bool = False, embed_cfg: dict, cpus: dict, batch_docs: int = 256,
               embedder=None, model: tuple[str, str] | None = None) -> dict:
    """Ingest files (`paths`) or in-memory `records` into the stores; returns the counts and the throughput.

    `model`: (name, fingerprint) of the embedding model, recorded in the vector index with the first write."""
    t0 = time.perf_counter()
    known = stores.corpus.known_hashes()
    compare = {} if force else dict(known)
    writer = CorpusWriter(stores, known, batch_docs, model)
    if records is not None:
        files, use_ray = {}, False
    else:
        bases: dict[str, str] = {}
        files = expand_paths(paths or [], bases)
        opts.text_bases = {f: bases[f] for f in files.get("text", [])}
    if use_ray:
        ds = ray_dataset(files, cpus["ingest"])
        ds = ds.map_batches(prepare_batch, fn_kwargs={"opts": opts}, batch_format="numpy", batch_size=64,
                            num_cpus=cpus["ingest"])
        ds = ds.map_batches(EmbedBatch, fn_constructor_kwargs={**embed_cfg, "known_hashes": compare},
                            batch_format="numpy", batch_size=embed_cfg["batch_size"], num_cpus=cpus["embed"],
                            concurrency=cpus["embed_concurrency"])
        for batch in ds.iter_batches(batch_size=512, batch_format="numpy"):
            writer.add(batch)
    else:
        embed = EmbedBatch(**embed_cfg, known_hashes=compare, embedder=embedder)
        batches = ([{"path": ["<request>"] * len(records), "kind": ["json"] * len(records),
                     "payload": [json.dumps(r, default=str, ensure_ascii=False) for r in records]}]
                   if records is not None else payloads_local(files))
        for payload in batches:
            for i in range(0, len(payload["path"]), 256):
                part = {k: v[i:i + 256] for k, v in payload.items()}
                prepared = prepare_batch(part, opts=opts)
                for j in range(0, len(prepared["status"]), embed_cfg["batch_size"]):
                    writer.add(embed({k: v[j:j + embed_cfg["batch_size"]] for k, v in prepared.items()}))
    report = writer.report()
    seconds = time.perf_counter() - t0
    seen = report["new"] + report["updated"] + report["unchanged"] + report["rejected"]
    return {**report, "documents_seen": seen, "seconds": round(seconds, 3),
            "docs_per_s": round(seen / seconds, 1) if seconds else None, "mode": "ray" if use_ray else "local"}
