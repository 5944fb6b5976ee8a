"""Dataset routes: corpus ingest, hybrid/vector/graph/keyword search, dataset registry, analysis and export.

Handlers reach their backend through `request.app.state.datasets` (a clara_ray.datasets.service.DatasetService,
or anything with the same methods, sync or async). Every route declares its permission through `require`.
"""

from __future__ import annotations

import inspect
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from clara_ray.api.auth import Principal, require
from clara_ray.datasets.errors import StoreUnavailable
from clara_ray.datasets.schemas import (
    NAME_PATTERN,
    AnalyzeRequest,
    DatasetName,
    CreateDatasetRequest,
    ExportRequest,
    IngestRequest,
    SearchRequest,
)

router = APIRouter(prefix="/api/datasets", tags=["datasets"])


async def _call(request: Request, method: str, *args, **kwargs):
    backend = getattr(request.app.state, "datasets", None)
    if backend is None:
        raise StoreUnavailable("the dataset service is not configured on this API")
    fn = getattr(backend, method)
    if inspect.iscoroutinefunction(fn):
        return await fn(*args, **kwargs)
    return await run_in_threadpool(fn, *args, **kwargs)  # blocking work (stores, embedding) off the event loop


# ---- corpus (static paths before /{dataset_id})
@router.post("/corpus/ingest")
async def ingest(body: IngestRequest, request: Request, who: Annotated[Principal, require("datasets:create")]) -> dict:
    """Ingest server-side files/folders (Ray Data pipeline) or inline documents into the three stores."""
    return await _call(request, "ingest", body)


@router.get("/corpus")
async def corpus_stats(request: Request, who: Annotated[Principal, require("datasets:read")]) -> dict:
    """Documents, chunks, vectors and graph size of the indexed corpus."""
    return await _call(request, "corpus_stats")


@router.get("/corpus/documents/{doc_id:path}")
async def get_document(doc_id: str, request: Request, who: Annotated[Principal, require("datasets:read")]) -> dict:
    """One corpus document with its extracted entities."""
    return await _call(request, "get_document", doc_id)


# ---- search
async def _search(body: SearchRequest, request: Request, mode: str) -> dict:
    return await _call(request, "search", body, mode)


@router.post("/search")
async def search(body: SearchRequest, request: Request, who: Annotated[Principal, require("datasets:search")]) -> dict:
    """Hybrid search (same as /search/hybrid)."""
    return await _search(body, request, "hybrid")


@router.post("/search/hybrid")
async def search_hybrid(body: SearchRequest, request: Request,
                        who: Annotated[Principal, require("datasets:search")]) -> dict:
    """Vector + graph + keyword, fused by weighted reciprocal-rank fusion; each result lists every source's score/rank."""
    return await _search(body, request, "hybrid")


@router.post("/search/vector")
async def search_vector(body: SearchRequest, request: Request,
                        who: Annotated[Principal, require("datasets:search")]) -> dict:
    """Semantic search: cosine similarity of sentence embeddings (Chroma)."""
    return await _search(body, request, "vector")


@router.post("/search/graph")
async def search_graph(body: SearchRequest, request: Request,
                       who: Annotated[Principal, require("datasets:search")]) -> dict:
    """Entity search: legal references, statutes and keywords of the query, expanded over the graph."""
    return await _search(body, request, "graph")


@router.post("/search/keyword")
async def search_keyword(body: SearchRequest, request: Request,
                         who: Annotated[Principal, require("datasets:search")]) -> dict:
    """Full-text search: BM25 (SQLite FTS5) or PostgreSQL full-text ranking."""
    return await _search(body, request, "keyword")


# ---- registry
@router.get("")
async def list_datasets(request: Request, who: Annotated[Principal, require("datasets:read")],
                        name: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None,
                        offset: Annotated[int, Query(ge=0, le=10**9)] = 0,  # bounded: SQL takes int64
                        limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict:
    """Dataset versions, newest first; `name` lists the versions of one dataset."""
    limit = min(limit, request.app.state.settings.api.max_page_size)
    return await _call(request, "list_datasets", name=name, offset=offset, limit=limit)


@router.post("/create", status_code=201)
async def create_dataset(body: CreateDatasetRequest, request: Request,
                         who: Annotated[Principal, require("datasets:create")]) -> dict:
    """A new immutable version from search results, a corpus filter, document ids or inline records."""
    return await _call(request, "create_dataset", body, who.subject)


@router.post("/upload", status_code=201)
async def upload_dataset(request: Request, who: Annotated[Principal, require("datasets:create")],
                         file: Annotated[UploadFile, File()],
                         name: Annotated[DatasetName, Form()],
                         description: Annotated[str | None, Form(max_length=2000)] = None) -> dict:
    """A new immutable version from an uploaded JSONL/JSON/CSV/Parquet file of training records."""
    cfg = getattr(getattr(request.app.state, "datasets", None), "cfg", None)
    limit = cfg.max_upload_bytes if cfg is not None else None
    content = await file.read(limit + 1 if limit else -1)
    return await _call(request, "upload_dataset", name, file.filename or "", content,
                       description=description, created_by=who.subject)


@router.get("/{dataset_id}")
async def get_dataset(dataset_id: str, request: Request, who: Annotated[Principal, require("datasets:read")]) -> dict:
    """One dataset version with its stats and provenance."""
    return await _call(request, "get_dataset", dataset_id)


@router.post("/{dataset_id}/analyze")
async def analyze_dataset(dataset_id: str, request: Request, who: Annotated[Principal, require("datasets:read")],
                          body: AnalyzeRequest | None = None) -> dict:
    """Quality report: length, UTF-8, exact/near duplicates, toxicity, domain relevance; optionally a clean version.

    Creating a clean version additionally needs datasets:create."""
    body = body or AnalyzeRequest()
    if body.create_clean_version and not who.can("datasets:create"):
        from clara_ray.api.auth import PermissionDenied

        raise PermissionDenied("datasets:create")
    return await _call(request, "analyze", dataset_id, body, who.subject)


@router.post("/{dataset_id}/export")
async def export_dataset(dataset_id: str, request: Request, who: Annotated[Principal, require("datasets:export")],
                         body: ExportRequest | None = None):
    """JSONL, Parquet or CSV: streamed back as a download, or written to `destination_uri`."""
    result = await _call(request, "export", dataset_id, body or ExportRequest())
    if isinstance(result, dict):
        return result
    pieces, media_type, filename = result
    return StreamingResponse(pieces, media_type=media_type,
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})
