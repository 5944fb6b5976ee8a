"""Per-batch ingest work, run as Ray Data tasks/actors or in-process: parse + chunk + extract, then embed."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from clara_ray.datasets.chunking import chunk_text, model_tokens
from clara_ray.datasets.documents import parse_document
from clara_ray.datasets.embedding_model import OFFLINE_PACKAGE
from clara_ray.datasets.entities import extract
from clara_ray.datasets.errors import DatasetInputError

OUT_COLUMNS = ("status", "reason", "path", "doc_id", "hash", "chunk_id", "position", "n_chunks", "chunk_text",
               "embed_text", "doc", "truncated")
_INT_COLUMNS = ("position", "n_chunks", "truncated")


@dataclass
class IngestOptions:
    model: str = OFFLINE_PACKAGE  # datasets.embedding_model: its tokenizer sizes the chunks
    max_tokens: int = 128  # datasets.embedding_max_tokens: the model truncates there (special tokens included)
    chunk_tokens: int | None = None  # datasets.chunk_tokens (None = what the window leaves after the title)
    chunk_overlap_tokens: int = 24
    keywords: int = 8
    defaults: dict = field(default_factory=dict)
    text_bases: dict = field(default_factory=dict)  # text file -> folder its id is relative to


def prepare_batch(batch: dict, *, opts: IngestOptions) -> dict:
    """Payload rows -> one row per chunk of every valid document, or one `rejected` row per bad record."""
    out = {k: [] for k in OUT_COLUMNS}

    def emit(**row):
        for k in OUT_COLUMNS:
            out[k].append(row.get(k, 0 if k in _INT_COLUMNS else ""))

    tok = model_tokens(opts.model)
    window = tok.text_window(opts.max_tokens)

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
        title, size = embed_budget(tok, doc.title, window, opts.chunk_tokens)
        chunks = chunk_text(doc.text, tok, size, opts.chunk_overlap_tokens)
        ex = extract(doc.title + "\n" + doc.text, keywords=opts.keywords)
        meta = json.dumps({"doc": doc.to_dict(), "entities": ex.entities, "part_of": sorted(ex.part_of)},
                          ensure_ascii=False)
        for i, c in enumerate(chunks):
            embed_text = f"{title}\n{c}" if title else c
            emit(status="ok", path=path, doc_id=doc.id, hash=doc.content_hash, chunk_id=f"{doc.id}#{i}", position=i,
                 n_chunks=len(chunks), chunk_text=c, embed_text=embed_text, doc=meta if i == 0 else "",
                 truncated=int(tok.count(embed_text) > window))
    return {k: np.asarray(v, dtype=object if k not in _INT_COLUMNS else np.int64) for k, v in out.items()}


def embed_budget(tok, title: str, window: int, chunk_tokens: int | None) -> tuple[str, int]:
    """(title as embedded, chunk size in tokens): every chunk is embedded as "title\nchunk" within `window` tokens.

    The title is kept whole up to half the window (cut at a word start beyond that), so a long title never
    squeezes the chunk below half the window; the chunk gets the rest, or `chunk_tokens` when that is smaller.
    """
    half = window // 2
    if title and tok.count(title) > half:
        spans = tok.spans(title)
        title = title[:spans[half - 1][1]].rsplit(" ", 1)[0] if half else ""
    used = tok.count(title + "\n") if title else 0
    size = window - used
    return title, max(1, min(size, chunk_tokens) if chunk_tokens else size)


def _text_record(path: str, content: str, base: str) -> dict:
    rel = os.path.relpath(path, base) if base else Path(path).name
    first = next((ln.strip().lstrip("#").strip() for ln in content.splitlines() if ln.strip()), "")
    return {"id": str(Path(rel).with_suffix("")).replace(os.sep, "/"), "title": first[:200], "text": content}


class EmbedBatch:
    """Ray Data actor (or local object): embeds `embed_text` of changed documents; unchanged ones are marked."""

    def __init__(self, model: str, max_tokens: int, batch_size: int, threads: int | None = None,
                 known_hashes: dict | None = None, embedder=None, backend: str = "torch"):
        from clara_ray.datasets.embedding import shared_embedder

        self.embedder = embedder or shared_embedder(model, max_tokens, batch_size, threads, backend)
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
