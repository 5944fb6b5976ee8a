"""DatasetService: the backend of /api/datasets (corpus ingest, search, registry, analysis, export).

Construct one per process: `DatasetService(settings, Database(settings.storage.database_url))`.
Methods are synchronous (the routes run them in a thread pool); the embedding model loads on first use.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from clara_ray.records import QualityLimits, RecordError, normalise
from clara_ray.datasets import export as exporter
from clara_ray.datasets.analyze import analyze_records
from clara_ray.datasets.corpus import CorpusRepository, document_view
from clara_ray.datasets.errors import DatasetInputError, DatasetNotFound
from clara_ray.datasets.ingest import IngestOptions, run_ingest
from clara_ray.datasets.readers import expand_paths
from clara_ray.datasets.recordio import parse_upload
from clara_ray.datasets.registry import DatasetRegistry, dataset_view
from clara_ray.datasets.schemas import (
    AnalyzeRequest,
    CreateDatasetRequest,
    ExportRequest,
    IngestRequest,
    SearchRequest,
)
from clara_ray.datasets.search import SearchEngine
from clara_ray.datasets.settings import DatasetSettings
from clara_ray.datasets.stores.keyword_sql import keyword_index
from clara_ray.datasets.toxicity import load_scorer
from clara_ray.db.engine import Database
from clara_ray.server_paths import Roots

log = logging.getLogger("clara.datasets")


@dataclass
class Stores:
    db: Database
    corpus: CorpusRepository
    keyword: object
    vector: object
    graph: object


def make_vector_store(cfg: DatasetSettings, data_dir: Path):
    from clara_ray.datasets.stores.vector_chroma import ChromaVectorStore

    return ChromaVectorStore(mode=cfg.chroma_mode, path=cfg.chroma_path or str(data_dir / "chroma"),
                             host=cfg.chroma_host, port=cfg.chroma_port, ssl=cfg.chroma_ssl, collection=cfg.collection)


def make_graph_store(cfg: DatasetSettings, data_dir: Path):
    if cfg.graph_backend == "neo4j":
        from clara_ray.datasets.stores.graph_neo4j import Neo4jGraphStore

        return Neo4jGraphStore(cfg.neo4j_uri, cfg.neo4j_user, cfg.neo4j_password,
                               cfg.neo4j_database)
    from clara_ray.datasets.stores.graph_ladybug import LadybugGraphStore

    return LadybugGraphStore(cfg.graph_path or str(data_dir / "graph" / "corpus.lbdb"))


class DatasetService:
    def __init__(self, settings, db: Database | None = None, *, dataset_settings: DatasetSettings | None = None,
                 embedder=None, vector=None, graph=None):
        self.settings = settings
        self.cfg = dataset_settings or getattr(settings, "datasets", None) or DatasetSettings()
        data_dir = Path(settings.storage.data_dir)
        self._owns_db = db is None
        self.db = db or Database(settings.storage.database_url)
        keyword = keyword_index(self.db, self.cfg.keyword_scan_shards, self.cfg.keyword_postings)
        self.stores = Stores(self.db, CorpusRepository(self.db), keyword,
                             vector or make_vector_store(self.cfg, data_dir),
                             graph or make_graph_store(self.cfg, data_dir))
        self.registry = DatasetRegistry(self.db, self.cfg.store_uri or str(data_dir / "datasets"))
        self._embedder = embedder
        self._embedder_lock = threading.Lock()
        self._ingest_lock = threading.Lock()
        self.engine = SearchEngine(self.stores, self.cfg, self.embedder)
        self.toxicity = load_scorer(self.cfg.toxicity_scorer)
        self.limits = QualityLimits(settings.data.min_length, settings.data.max_length)

    # ------------------------------------------------------------------ corpus
    def embedder(self):
        with self._embedder_lock:
            if self._embedder is None:
                from clara_ray.datasets.embedding import shared_embedder

                c = self.cfg
                self._embedder = shared_embedder(c.embedding_model, c.embedding_max_tokens, c.embedding_batch_size,
                                                 c.embedding_threads, c.embedding_backend)
            emb = self._embedder
        # Every query: the collection's model record is read from memory, so this costs nothing, and a query never
        # compares its vector with an index built by another model.
        self.stores.vector.ensure_model(emb.name, emb.fingerprint, emb.dim)
        return emb

    def warm_keyword_index(self) -> None:
        """Build the keyword index's in-memory postings now (SQLite); otherwise the first search starts the build."""
        self.stores.keyword.warm()

    def _ingest_model(self, local: bool) -> tuple[str, str]:
        """(name, fingerprint) of the model this ingest embeds with; checked against the index before any work."""
        if local:
            emb = self.embedder()  # checks the index too
            return emb.name, emb.fingerprint
        from clara_ray.datasets.embedding_model import index_identity

        try:
            name, fingerprint = index_identity(self.cfg.embedding_model, self.cfg.embedding_backend)
        except ValueError as e:
            raise DatasetInputError(str(e), "datasets.embedding_model") from None
        self.stores.vector.ensure_model(name, fingerprint)
        return name, fingerprint

    def _embed_cfg(self) -> dict:
        c = self.cfg
        return {"model": c.embedding_model, "max_tokens": c.embedding_max_tokens, "batch_size": c.embedding_batch_size,
                "threads": c.embed_threads, "backend": c.embedding_backend}

    def ingest(self, req: IngestRequest) -> dict:
        if bool(req.paths) == bool(req.documents):
            raise DatasetInputError("give exactly one of 'paths' or 'documents'", "paths")
        c = self.cfg
        paths = self._roots(c.ingest_roots, "datasets.ingest_roots").check_all(req.paths or [], "paths")
        opts = IngestOptions(model=c.embedding_model, max_tokens=c.embedding_max_tokens, chunk_tokens=c.chunk_tokens,
                             chunk_overlap_tokens=c.chunk_overlap_tokens, keywords=c.keywords_per_document,
                             defaults=dict(req.defaults))
        local = not req.use_ray or req.documents is not None
        model = self._ingest_model(local)  # another model than the index's fails here, before any cluster starts
        if not local:
            import ray

            expand_paths(paths)  # bad paths are a 422 before any cluster is started
            if not ray.is_initialized():  # a driver of its own (CLI, notebook): the project's way of joining Ray
                from clara_ray.ray_runtime import init_ray

                init_ray(self.settings)
        with self._ingest_lock:  # one writer at a time for the embedded stores
            return run_ingest(self.stores, paths or None, records=req.documents, opts=opts, use_ray=not local,
                              force=req.force, embed_cfg=self._embed_cfg(), batch_docs=c.write_batch_docs, model=model,
                              cpus={"ingest": c.ingest_cpus, "embed": c.embed_cpus,
                                    "embed_concurrency": c.embed_concurrency},
                              embedder=self.embedder() if local else None)

    def _roots(self, entries: list[str], setting: str) -> Roots:
        storage = self.settings.storage
        return Roots.from_config(entries, setting=setting, data_dir=storage.data_dir,
                                 project_dir=getattr(storage, "project_dir", None))

    def corpus_stats(self) -> dict:
        return {**self.stores.corpus.stats(), "vectors": self.stores.vector.count(), "graph": self.stores.graph.stats()}

    def get_document(self, doc_id: str) -> dict:
        row = self.stores.corpus.get(doc_id)
        if row is None:
            raise DatasetNotFound(f"document {doc_id} not found")
        return {**document_view(row), "entities": self.stores.graph.document_entities(doc_id),
                "chunk_count": row.chunk_count}

    # ------------------------------------------------------------------ search
    def search(self, req: SearchRequest, mode: str = "hybrid") -> dict:
        return self.engine.search(req, mode)

    # ------------------------------------------------------------------ registry
    def create_dataset(self, req: CreateDatasetRequest, created_by: str | None = None) -> dict:
        src = req.source
        cap = self.cfg.max_records_per_dataset
        if src.type == "records":
            for i, r in enumerate(src.records):
                try:
                    normalise(r)
                except RecordError as e:
                    raise DatasetInputError(str(e), f"source.records.{i}") from None
            records = list(src.records)
            source = {"type": "records", "count": len(records)}
        else:
            if src.type == "search":
                res = self.engine.search(SearchRequest(query=src.query, top_k=src.top_k, weights=src.weights,
                                                       filters=src.filters, fusion=src.fusion, include_text=False),
                                         src.mode,
                                         max_top_k=cap)
                ids = [r["document"]["id"] for r in res["results"]]
                source = {"type": "search", "query": src.query, "mode": src.mode, "top_k": src.top_k,
                          "weights": res.get("fusion", {}).get("weights"),
                          "filters": src.filters.model_dump(mode="json", exclude_none=True) if src.filters else {},
                          "scores": {r["document"]["id"]: r["score"] for r in res["results"]}}
            elif src.type == "filter":
                rows = self.stores.corpus.filter(src.filters, min(src.limit or cap, cap))
                ids = [r.id for r in rows]
                source = {"type": "filter", "filters": src.filters.model_dump(mode="json", exclude_none=True)}
            else:
                ids = list(dict.fromkeys(src.document_ids))
                missing = set(ids) - set(self.stores.corpus.get_many(ids))
                if missing:
                    raise DatasetInputError(f"unknown document ids: {sorted(missing)[:10]}", "source.document_ids")
                source = {"type": "documents", "document_ids": ids}
            if not ids:
                raise DatasetInputError("no corpus documents match this source", "source")
            records = self._corpus_records(ids, req.granularity)
            source["granularity"] = req.granularity
        if len(records) > cap:
            raise DatasetInputError(f"{len(records)} records exceed the limit of {cap}", "source")
        if req.description:
            source["description"] = req.description
        return self.registry.create(req.name, records, source=source, created_by=created_by)

    def _corpus_records(self, ids: list[str], granularity: str) -> list[dict]:
        docs = self.stores.corpus.get_many(ids)
        meta = lambda d: {k: getattr(d, k) for k in ("document_type", "domain", "date", "source", "quality_score")}  # noqa: E731
        if granularity == "document":
            return [{"text": f"{docs[i].title}\n\n{docs[i].text}", "doc_id": i, "title": docs[i].title, **meta(docs[i])}
                    for i in ids if i in docs]
        order = {d: n for n, d in enumerate(ids)}
        chunks = sorted(self.stores.corpus.chunks_of(ids), key=lambda c: (order[c.doc_id], c.position))
        return [{"text": f"{c.title}\n\n{c.text}", "doc_id": c.doc_id, "chunk_id": c.id, "title": c.title,
                 **meta(docs[c.doc_id])} for c in chunks]

    def upload_dataset(self, name: str, filename: str, content: bytes, *, description: str | None = None,
                       created_by: str | None = None) -> dict:
        if len(content) > self.cfg.max_upload_bytes:
            raise DatasetInputError(f"file is larger than {self.cfg.max_upload_bytes} bytes", "file")
        records, problems = parse_upload(filename, content)
        source = {"type": "upload", "filename": filename, "rejected": len(problems),
                  "rejected_examples": problems[:10]}
        if description:
            source["description"] = description
        return self.registry.create(name, records, source=source, created_by=created_by)

    def list_datasets(self, *, name: str | None = None, offset: int = 0, limit: int = 50) -> dict:
        return self.registry.list(name=name, offset=offset, limit=limit)

    def get_dataset(self, dataset_id: str) -> dict:
        return dataset_view(self.registry.get(dataset_id))

    # ------------------------------------------------------------------ analysis and export
    def relevance(self, texts: list[str]) -> list[float | None]:
        if self.stores.vector.count() == 0:
            return [None] * len(texts)
        idx = [i for i, t in enumerate(texts) if t]
        sims = self.stores.vector.nearest_similarity(self.embedder().embed([texts[i] for i in idx])) if idx else []
        out: list[float | None] = [None] * len(texts)
        for i, s in zip(idx, sims):
            out[i] = s
        return out

    def analyze(self, dataset_id: str, req: AnalyzeRequest, created_by: str | None = None) -> dict:
        row = self.registry.get(dataset_id)
        records = self.registry.records(dataset_id)
        c = self.cfg
        report = analyze_records(records, limits=self.limits, toxicity=self.toxicity, relevance=self.relevance,
                                 near_threshold=c.near_duplicate_threshold, num_perm=c.minhash_permutations,
                                 toxicity_threshold=c.toxicity_threshold, relevance_threshold=c.relevance_threshold)
        entries = report.pop("entries")
        shown = entries if req.include_clean else [e for e in entries if e["flags"]]
        report.update(dataset_id=row.id, name=row.name, version=row.version, entries=shown[:req.limit],
                      entries_truncated=len(shown) > req.limit,
                      thresholds={"min_length": self.limits.min_length, "max_length": self.limits.max_length,
                                  "near_duplicate": c.near_duplicate_threshold, "toxicity": c.toxicity_threshold,
                                  "relevance": c.relevance_threshold})
        if req.create_clean_version:
            keep = [records[e["index"]] for e in entries if not e["flags"]]
            if not keep:
                raise DatasetInputError("every record is flagged: a clean version would be empty", "create_clean_version")
            report["clean_version"] = self.registry.create(
                row.name, keep, source={"type": "clean", "from": row.id, "removed": len(records) - len(keep)},
                created_by=created_by)
        return report

    def export(self, dataset_id: str, req: ExportRequest):
        """To a URI: a summary dict. Streamed: (byte iterator, media type, file name)."""
        row = self.registry.get(dataset_id)
        records = self.registry.records(dataset_id)
        if req.destination_uri:
            dest = self._roots(self.cfg.export_roots, "datasets.export_roots").check(req.destination_uri,
                                                                                   "destination_uri", walk=False)
            location = exporter.destination(dest, row.name, row.version, req.format)
            try:
                size = exporter.write(records, req.format, location)
            except (OSError, ValueError, NotImplementedError) as e:  # pyarrow errors derive from these
                log.warning("dataset export to %s failed: %s", location, e)  # the server path stays in the log
                raise DatasetInputError(f"cannot write there ({type(e).__name__})", "destination_uri") from None
            shown = exporter.destination(req.destination_uri, row.name, row.version, req.format)  # as the client named it
            return {"dataset_id": row.id, "uri": shown, "format": req.format, "records": len(records), "bytes": size}
        filename = f"{row.name}-v{row.version}.{req.format}"
        return exporter.stream(records, req.format), exporter.MEDIA_TYPES[req.format], filename

    def close(self) -> None:
        self.engine.close()
        self.stores.keyword.close()
        self.stores.graph.close()
        if self._owns_db:
            self.db.dispose()
