"""Driver side of ingest: buffers chunk rows per document, then writes groups of documents to the three stores."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np

from clara_ray.datasets.documents import Document
from clara_ray.datasets.filters import date_int
from clara_ray.datasets.stores.base import GraphDocument


class CorpusWriter:
    """Buffers chunk rows per document until complete, then writes groups of documents to the stores."""

    def __init__(self, stores, known_hashes: dict[str, str], batch_docs: int = 256,
                 model: tuple[str, str] | None = None):
        self.s = stores  # clara_ray.datasets.service.Stores
        self.model = model  # (name, fingerprint) of the embedding model, recorded in the index on the first write
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
            row = {k: batch[k][i] for k in ("chunk_id", "position", "n_chunks", "chunk_text", "doc", "embedding",
                                           "truncated")}
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
        for rows in ready.values():
            meta = json.loads(rows[0]["doc"])
            docs.append((Document(**meta["doc"]), meta, rows))
        ids = [d.id for d, _, _ in docs]
        existed = [i for i in ids if i in self.known]
        if self.model:  # before anything is written: vectors of two models never share one index
            dim = len(next(iter(ready.values()))[0]["embedding"])
            self.s.vector.ensure_model(*self.model, dim, record=True)
        # Vectors and graph first, the database (with the content hash) last: a failure part-way is retried next time.
        if existed:
            self.s.vector.delete_documents(existed)
        chunk_rows = [(d, r) for d, _, rows in docs for r in rows]
        self.s.vector.upsert(
            [str(r["chunk_id"]) for _, r in chunk_rows],
            np.stack([np.asarray(r["embedding"], dtype=np.float32) for _, r in chunk_rows]),
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
        for d, _, _ in docs:
            self.counts["updated" if d.id in self.known else "new"] += 1
            self.known[d.id] = d.content_hash
        self.counts["chunks"] += len(chunk_rows)
        self.counts["truncated"] += sum(int(r["truncated"]) for _, r in chunk_rows)

    def report(self) -> dict:
        self.flush()
        c = self.counts
        return {"new": c["new"], "updated": c["updated"], "unchanged": c["unchanged"], "rejected": c["rejected"],
                "chunks_written": c["chunks"], "chunks_truncated": c["truncated"], "incomplete": len(self.partial),
                "rejected_by_reason": dict(self.rejected_reasons), "rejected_examples": self.rejected_examples}
