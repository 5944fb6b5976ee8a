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
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from clara_ray.datasets.chunking import chunk_text
from clara_ray.datasets.documents import Document, parse_document
from clara_ray.datasets.entities import extract
from clara_ray.datasets.errors import DatasetInputError
from clara_ray.datasets.filters import date_int
from clara_ray.datasets.stores.base import GraphDocument

KINDS = {".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet", ".csv": "csv", ".txt": "text", ".md": "text"}
OUT_COLUMNS = ("status", "reason", "path", "doc_id", "hash", "chunk_id", "position", "n_chunks", "chunk_text",
               "embed_text", "doc")


@dataclass
class IngestOptions:
    chunk_chars: int = 600
    chunk_overlap: int = 80
    keywords: int = 8
    defaults: dict = field(default_factory=dict)
    text_bases: dict = field(default_factory=dict)  # text file -> folder its id is relative to


def expand_paths(paths: list[str], text_bases: dict | None = None) -> dict[str, list[str]]:
    """Files by kind; folders are searched recursively for supported files. DatasetInputError names bad paths.

    `text_bases` (filled in): text file -> the folder given (its id is the path below it), or its own folder."""
    if not paths:
        raise DatasetInputError("no input paths given", "paths")
    out: dict[str, list[str]] = {}
    bases = text_bases if text_bases is not None else {}
    for p in paths:
        path = Path(p).expanduser()
        if "://" in p:
            files, base = [p], ""
        elif path.is_dir():
            files = sorted(str(f.resolve()) for f in path.rglob("*") if f.is_file() and f.suffix.lower() in KINDS)
            base = str(path.resolve())
            if not files:
                raise DatasetInputError(f"{p}: folder holds no .jsonl/.json/.parquet/.csv/.txt/.md files", "paths")
        elif path.is_file():
            files, base = [str(path.resolve())], str(path.resolve().parent)
        else:
            raise DatasetInputError(f"{p}: no such file or folder", "paths")
        for f in files:
            bases.setdefault(f, base)
            kind = KINDS.get(Path(f.split("?")[0]).suffix.lower())
            if kind is None:
                raise DatasetInputError(f"{f}: unsupported file type (use .jsonl, .json, .parquet, .csv, .txt, .md)",
                                        "paths")
            out.setdefault(kind, []).append(f)
    return out


# ---------------------------------------------------------------- batch functions (Ray Data tasks or local)
def prepare_batch(batch: dict, *, opts: IngestOptions) -> dict:
    """Payload rows -> one row per chunk of every valid document, or one `rejected` row per bad record."""
    out = {k: [] for k in OUT_COLUMNS}

    def emit(**row):
        for k in OUT_COLUMNS:
            out[k].append(row.get(k, 0 if k in ("position", "n_chunks") else ""))

    for path, kind, payload in zip(batch["path"], batch["kind"], batch["payload"]):
        path, kind, payload = str(path), str(kind), str(payload)
        if kind == "json" and not payload.strip():
            continue
        try:
            if kind == "json":
                try:
                    raw = json.loads(payload)
                except json.JSONDecodeError as e:
                    raise DatasetInputError(f"invalid JSON ({e.msg})") from None
            else:
                raw = _text_record(path, payload, opts.text_bases.get(path, ""))
            doc = parse_document(raw, opts.defaults)
        except DatasetInputError as e:
            emit(status="rejected", reason=str(e), path=path)
            continue
        chunks = chunk_text(doc.text, opts.chunk_chars, opts.chunk_overlap)
        ex = extract(doc.title + "\n" + doc.text, keywords=opts.keywords)
        meta = json.dumps({"doc": doc.to_dict(), "entities": ex.entities, "part_of": sorted(ex.part_of)},
                          ensure_ascii=False)
        for i, c in enumerate(chunks):
            emit(status="ok", path=path, doc_id=doc.id, hash=doc.content_hash, chunk_id=f"{doc.id}#{i}", position=i,
                 n_chunks=len(chunks), chunk_text=c, embed_text=f"{doc.title}\n{c}", doc=meta if i == 0 else "")
    return {k: np.asarray(v, dtype=object if k not in ("position", "n_chunks") else np.int64) for k, v in out.items()}


def _text_record(path: str, content: str, base: str) -> dict:
    rel = os.path.relpath(path, base) if base else Path(path).name
    first = next((ln.strip().lstrip("#").strip() for ln in content.splitlines() if ln.strip()), "")
    return {"id": str(Path(rel).with_suffix("")).replace(os.sep, "/"), "title": first[:200], "text": content}


class EmbedBatch:
    """Ray Data actor (or local object): embeds `embed_text` of changed documents; unchanged ones are marked."""

    def __init__(self, model: str, max_tokens: int, batch_size: int, known_hashes: dict | None = None,
                 embedder=None):
        from clara_ray.datasets.embedding import shared_embedder

        self.embedder = embedder or shared_embedder(model, max_tokens, batch_size)
        self.known = known_hashes or {}

    def __call__(self, batch: dict) -> dict:
        n = len(batch["status"])
        status = np.asarray(batch["status"], dtype=object).copy()
        for i in range(n):
            if status[i] == "ok" and self.known.get(batch["doc_id"][i]) == batch["hash"][i]:
                status[i] = "unchanged"
        todo = [i for i in range(n) if status[i] == "ok"]
        vecs = np.zeros((n, self.embedder.dim), dtype=np.float32)
        if todo:
            vecs[todo] = self.embedder.embed([str(batch["embed_text"][i]) for i in todo])
        return {**batch, "status": status, "embedding": vecs}


# ---------------------------------------------------------------- readers
def _payloads_local(files: dict[str, list[str]]):
    """Yield payload batches without Ray (same shape as the Ray readers produce)."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    for kind, paths in files.items():
        for p in paths:
            if kind == "jsonl":
                with open(p, encoding="utf-8", errors="replace") as f:
                    lines = f.read().splitlines()
                yield {"path": [p] * len(lines), "kind": ["json"] * len(lines), "payload": lines}
            elif kind == "text":
                with open(p, "rb") as f:
                    yield {"path": [p], "kind": ["text"], "payload": [f.read().decode("utf-8", errors="replace")]}
            else:
                table = pq.read_table(p) if kind == "parquet" else pacsv.read_csv(p)
                rows = table.to_pylist()
                yield {"path": [p] * len(rows), "kind": ["json"] * len(rows),
                       "payload": [json.dumps(r, default=str, ensure_ascii=False) for r in rows]}


def _rows_to_payload(batch: dict) -> dict:
    # Parquet/CSV rows from Ray Data -> one JSON payload per row.
    cols = [c for c in batch if c != "path"]
    n = len(batch["path"])
    payload = [json.dumps({c: _plain(batch[c][i]) for c in cols}, default=str, ensure_ascii=False) for i in range(n)]
    return {"path": np.asarray(batch["path"], dtype=object), "kind": np.asarray(["json"] * n, dtype=object),
            "payload": np.asarray(payload, dtype=object)}


def _lines_to_payload(batch: dict) -> dict:
    n = len(batch["path"])
    return {"path": batch["path"], "kind": np.asarray(["json"] * n, dtype=object), "payload": batch["text"]}


def _bytes_to_payload(batch: dict) -> dict:
    n = len(batch["path"])
    texts = [bytes(b).decode("utf-8", errors="replace") for b in batch["bytes"]]
    return {"path": batch["path"], "kind": np.asarray(["text"] * n, dtype=object),
            "payload": np.asarray(texts, dtype=object)}


def _plain(v):
    if isinstance(v, float) and v != v:
        return None
    return v.item() if hasattr(v, "item") else v


def ray_dataset(files: dict[str, list[str]], cpus: float):
    """One Ray Dataset of payload rows over every input file."""
    import ray.data

    parts = []
    for kind, paths in files.items():
        if kind == "jsonl":
            ds = ray.data.read_text(paths, include_paths=True, num_cpus=cpus)
            parts.append(ds.map_batches(_lines_to_payload, batch_format="numpy", num_cpus=cpus))
        elif kind == "text":
            ds = ray.data.read_binary_files(paths, include_paths=True, num_cpus=cpus)
            parts.append(ds.map_batches(_bytes_to_payload, batch_format="numpy", num_cpus=cpus))
        else:
            reader = ray.data.read_parquet if kind == "parquet" else ray.data.read_csv
            parts.append(reader(paths, include_paths=True, num_cpus=cpus)
                         .map_batches(_rows_to_payload, batch_format="numpy", num_cpus=cpus))
    return parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]


# ---------------------------------------------------------------- writer
class CorpusWriter:
    """Buffers chunk rows per document until complete, then writes groups of documents to the stores."""

    def __init__(self, stores, known_hashes: dict[str, str], batch_docs: int = 256):
        self.s = stores  # clara_ray.datasets.service.Stores
        self.known = known_hashes
        self.batch_docs = batch_docs
        self.partial: dict[str, list[dict]] = {}
        self.ready: dict[str, list[dict]] = {}
        self.counts: Counter = Counter()
        self.rejected_examples: list[str] = []
        self.rejected_reasons: Counter = Counter()

    def add(self, batch: dict) -> None:
        n = len(batch["status"])
        for i in range(n):
            st = batch["status"][i]
            if st == "rejected":
                self.counts["rejected"] += 1
                reason = str(batch["reason"][i])
                self.rejected_reasons[reason.split(" (")[0]] += 1
                if len(self.rejected_examples) < 10:
                    self.rejected_examples.append(f"{batch['path'][i]}: {reason}")
                continue
            doc_id = str(batch["doc_id"][i])
            if st == "unchanged":
                if int(batch["position"][i]) == 0:
                    self.counts["unchanged"] += 1
                continue
            row = {k: batch[k][i] for k in ("chunk_id", "position", "n_chunks", "chunk_text", "doc", "embedding")}
            rows = self.partial.setdefault(doc_id, [])
            if int(row["position"]) == 0 and rows and any(int(r["position"]) == 0 for r in rows):
                rows.clear()  # the same id twice in one ingest: the later record wins
            rows.append(row)
            if len(rows) == int(row["n_chunks"]):
                self.ready[doc_id] = sorted(self.partial.pop(doc_id), key=lambda r: int(r["position"]))
                if len(self.ready) >= self.batch_docs:
                    self.flush()

    def flush(self) -> None:
        if not self.ready:
            return
        docs, ready = [], self.ready
        self.ready = {}
        for doc_id, rows in ready.items():
            meta = json.loads(rows[0]["doc"])
            docs.append((Document(**meta["doc"]), meta, rows))
        ids = [d.id for d, _, _ in docs]
        existed = [i for i in ids if i in self.known]
        # Vectors and graph first, the database (with the content hash) last: a failure part-way is retried next time.
        if existed:
            self.s.vector.delete_documents(existed)
        chunk_rows = [(d, r) for d, _, rows in docs for r in rows]
        self.s.vector.upsert(
            [str(r["chunk_id"]) for _, r in chunk_rows],
            np.stack([np.asarray(r["embedding"], dtype=np.float32) for _, r in chunk_rows]),
            [str(r["chunk_text"]) for _, r in chunk_rows],
            [{"doc_id": d.id, "document_type": d.document_type, "domain": d.domain, "date_int": date_int(d.date),
              "quality_score": float(d.quality_score), "position": int(r["position"])} for d, r in chunk_rows])
        self.s.graph.upsert_documents([
            GraphDocument(d.id, d.title, d.document_type, d.domain, date_int(d.date), d.quality_score,
                          meta["entities"], [tuple(p) for p in meta["part_of"]]) for d, meta, _ in docs])
        with self.s.db.session() as session:
            self.s.corpus.upsert(session, [(d, sorted(meta["entities"]), len(rows)) for d, meta, rows in docs])
            self.s.keyword.replace(session, ids, [
                {"id": str(r["chunk_id"]), "doc_id": d.id, "position": int(r["position"]), "title": d.title,
                 "text": str(r["chunk_text"])} for d, r in chunk_rows])
        for d, _, rows in docs:
            self.counts["updated" if d.id in self.known else "new"] += 1
            self.known[d.id] = d.content_hash
        self.counts["chunks"] += len(chunk_rows)

    def report(self) -> dict:
        self.flush()
        c = self.counts
        return {"new": c["new"], "updated": c["updated"], "unchanged": c["unchanged"], "rejected": c["rejected"],
                "chunks_written": c["chunks"], "incomplete": len(self.partial),
                "rejected_by_reason": dict(self.rejected_reasons), "rejected_examples": self.rejected_examples}


def run_ingest(stores, paths: list[str] | None = None, *, records: list[dict] | None = None, opts: IngestOptions,
               use_ray: bool = True, force: bool = False, embed_cfg: dict, cpus: dict, batch_docs: int = 256,
               embedder=None) -> dict:
    """Ingest files (`paths`) or in-memory `records` into the stores; returns the counts and the throughput."""
    t0 = time.perf_counter()
    known = stores.corpus.known_hashes()
    compare = {} if force else dict(known)
    writer = CorpusWriter(stores, known, batch_docs)
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
                   if records is not None else _payloads_local(files))
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
