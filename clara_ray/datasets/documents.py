"""Corpus document shape: validation and normalisation of one raw record (JSONL/Parquet/CSV row or text file)."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import asdict, dataclass, field

from clara_ray.datasets.errors import DatasetInputError

META_FIELDS = ("document_type", "domain", "date", "source", "quality_score")


@dataclass
class Document:
    id: str
    title: str
    text: str
    document_type: str = "document"
    domain: str = "general"
    date: str | None = None  # ISO yyyy-mm-dd
    source: str | None = None
    quality_score: float = 0.5
    extra: dict = field(default_factory=dict)  # any other fields of the record, kept as they came

    @property
    def content_hash(self) -> str:
        """Changes whenever anything searchable or filterable changes (re-ingest updates only those)."""
        key = "\x1f".join([self.title, self.text, self.document_type, self.domain, self.date or "",
                           self.source or "", f"{self.quality_score:.4f}"])
        return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()

    def to_dict(self) -> dict:
        return asdict(self)


def _blank(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip())


def parse_date(v) -> str | None:
    """ISO date string (yyyy-mm-dd) from a date, datetime or string; DatasetInputError otherwise."""
    if _blank(v):
        return None
    if isinstance(v, dt.datetime):
        return v.date().isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    s = str(v).strip()
    for fmt in ("%Y-%m-%d", "%d.%m.%Y", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "%Y"):
        try:
            return dt.datetime.strptime(s[:19] if "T" in s else s, fmt).date().isoformat()
        except ValueError:
            continue
    raise DatasetInputError(f"date {s!r} is not an ISO date (yyyy-mm-dd)", "date")


def estimate_quality(title: str, text: str) -> float:
    """Heuristic quality in [0, 1] when a record has none: length, share of letters, no replacement characters."""
    if "\ufffd" in text:
        return 0.1
    letters = sum(c.isalpha() for c in text) / max(len(text), 1)
    length = min(len(text) / 800, 1.0)
    return round(max(0.0, min(1.0, 0.2 + 0.4 * length + 0.4 * min(letters / 0.75, 1.0) - (0 if title else 0.1))), 3)


def parse_document(raw: dict, defaults: dict | None = None) -> Document:
    """A validated Document from a raw record; raises DatasetInputError naming the bad field."""
    if not isinstance(raw, dict):
        raise DatasetInputError(f"document must be an object, got {type(raw).__name__}")
    rec = {**(defaults or {}), **{k: v for k, v in raw.items() if not _blank(v)}}
    text = rec.get("text", rec.get("content", rec.get("body")))
    if not isinstance(text, str) or not text.strip():
        raise DatasetInputError("missing or empty 'text'", "text")
    title = rec.get("title")
    title = str(title).strip() if not _blank(title) else text.strip().split("\n", 1)[0][:120]
    doc_id = rec.get("id", rec.get("doc_id"))
    doc_id = str(doc_id).strip() if not _blank(doc_id) else "h-" + hashlib.sha256(
        text.encode("utf-8", "surrogatepass")).hexdigest()[:20]
    if len(doc_id) > 128:
        raise DatasetInputError("'id' is longer than 128 characters", "id")
    q = rec.get("quality_score")
    if _blank(q):
        q = estimate_quality(title, text)
    try:
        q = float(q)
    except (TypeError, ValueError):
        raise DatasetInputError(f"quality_score {q!r} is not a number", "quality_score") from None
    if not 0.0 <= q <= 1.0:
        raise DatasetInputError(f"quality_score {q} is outside [0, 1]", "quality_score")
    known = {"id", "doc_id", "title", "text", "content", "body", *META_FIELDS}
    extra = {k: v for k, v in rec.items() if k not in known and not k.startswith("__") and k != "path"}
    return Document(
        id=doc_id, title=title, text=text.strip(),
        document_type=str(rec.get("document_type") or "document").strip().lower()[:64],
        domain=str(rec.get("domain") or "general").strip().lower()[:64],
        date=parse_date(rec.get("date")),
        source=str(rec["source"])[:256] if rec.get("source") is not None else None,
        quality_score=round(q, 4),
        extra={k: v for k, v in extra.items() if isinstance(v, (str, int, float, bool))},
    )
