"""Request bodies of the dataset routes (pydantic: a bad field is a 422 that names it)."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import AfterValidator, BaseModel, Field, field_validator

from clara_ray.datasets.filters import SearchFilters
from clara_ray.names import NameKind, check_name

NAME_PATTERN = rf"^{NameKind.DATASET.value.pattern.pattern}$"  # for `pattern=` (pydantic's regex: `$` = end of text)
DatasetName = Annotated[str, AfterValidator(lambda v: check_name(v, NameKind.DATASET))]
"""A dataset name (clara_ray/names.py): a 422 naming the field says what is wrong and what is allowed."""
SearchMode = Literal["hybrid", "vector", "graph", "keyword"]


class Weights(BaseModel):
    model_config = {"extra": "forbid"}
    vector: float | None = Field(None, ge=0, le=100)
    graph: float | None = Field(None, ge=0, le=100)
    keyword: float | None = Field(None, ge=0, le=100)


class SearchRequest(BaseModel):
    model_config = {"extra": "forbid"}
    query: str = Field(..., min_length=1, max_length=2000)
    top_k: int | None = Field(None, ge=1, le=1000)
    weights: Weights | None = None
    """Per-source weights of hybrid search; omitted ones take the configured defaults (0.5/0.3/0.2)."""
    filters: SearchFilters | None = None
    fusion: Literal["score", "rrf"] | None = None
    """Hybrid fusion method (default from configuration: "score"); see clara_ray/datasets/fusion.py."""
    include_text: bool = True
    """Return each document's full text (else title, metadata and the matching snippet only)."""

    @field_validator("query")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("query must not be blank")
        return v


class SearchSource(BaseModel):
    model_config = {"extra": "forbid"}
    type: Literal["search"]
    query: str = Field(..., min_length=1, max_length=2000)
    mode: SearchMode = "hybrid"
    top_k: int = Field(50, ge=1, le=1000)
    weights: Weights | None = None
    fusion: Literal["score", "rrf"] | None = None
    filters: SearchFilters | None = None


class FilterSource(BaseModel):
    model_config = {"extra": "forbid"}
    type: Literal["filter"]
    filters: SearchFilters = SearchFilters()
    limit: int | None = Field(None, ge=1)


class DocumentsSource(BaseModel):
    model_config = {"extra": "forbid"}
    type: Literal["documents"]
    document_ids: list[str] = Field(..., min_length=1, max_length=100_000)


class RecordsSource(BaseModel):
    model_config = {"extra": "forbid"}
    type: Literal["records"]
    records: list[dict] = Field(..., min_length=1, max_length=10_000)


DatasetSource = Annotated[Union[SearchSource, FilterSource, DocumentsSource, RecordsSource], Field(discriminator="type")]


class CreateDatasetRequest(BaseModel):
    """A new immutable dataset version: `name` gets version max+1."""

    model_config = {"extra": "forbid"}
    name: DatasetName
    """Dataset name (a folder in the dataset store): 1-128 ASCII letters, digits, '.', '_' or '-'."""
    description: str | None = Field(None, max_length=2000)
    source: DatasetSource
    granularity: Literal["document", "chunk"] = "chunk"
    """Corpus sources: one training record per document, or per chunk (chunks fit the training length limits)."""


class AnalyzeRequest(BaseModel):
    model_config = {"extra": "forbid"}
    include_clean: bool = False
    """List records without flags too (default: only flagged records)."""
    limit: int = Field(1000, ge=0, le=100_000)
    """Most per-record entries returned (totals always cover every record)."""
    create_clean_version: bool = False
    """Register a new version of the dataset without the flagged records."""


class ExportRequest(BaseModel):
    model_config = {"extra": "forbid"}
    format: Literal["jsonl", "parquet", "csv"] = "jsonl"
    destination_uri: str | None = Field(None, min_length=1, max_length=2000)
    """Write to this store URI (folder path or s3://, gs://, file://) instead of streaming the file back."""


class IngestRequest(BaseModel):
    model_config = {"extra": "forbid"}
    paths: list[str] | None = Field(None, min_length=1, max_length=1000)
    """Server-side files or folders (JSONL/JSON/Parquet/CSV/text) to ingest."""
    documents: list[dict] | None = Field(None, min_length=1, max_length=10_000)
    """Inline documents (id, title, text, document_type, domain, date, source, quality_score)."""
    defaults: dict[str, str | float] = Field(default_factory=dict)
    """Metadata for records that lack it (e.g. {"domain": "baurecht"} for a text folder)."""
    use_ray: bool = True
    """Run the pipeline on Ray Data (files only; inline documents are processed in-process)."""
    force: bool = False
    """Re-embed and rewrite documents even when unchanged."""
