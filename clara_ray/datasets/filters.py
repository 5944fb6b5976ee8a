"""Search filters (document type, domain, date range, minimum quality) and their translation per store."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field, model_validator


class SearchFilters(BaseModel):
    """All given conditions must hold (AND); a list matches any of its values (OR)."""

    model_config = {"extra": "forbid"}

    document_type: list[str] | None = Field(None, max_length=50)
    domain: list[str] | None = Field(None, max_length=50)
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    min_quality: float | None = Field(None, ge=0, le=1)

    @model_validator(mode="before")
    @classmethod
    def _scalars_to_lists(cls, data):
        if isinstance(data, dict):
            data = dict(data)
            for k in ("document_type", "domain"):
                if isinstance(data.get(k), str):
                    data[k] = [data[k]]
        return data

    @model_validator(mode="after")
    def _range(self) -> "SearchFilters":
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError("date_from must not be after date_to")
        for k in ("document_type", "domain"):
            v = getattr(self, k)
            if v is not None:
                object.__setattr__(self, k, [s.strip().lower() for s in v])
        return self

    @property
    def empty(self) -> bool:
        return not (self.document_type or self.domain or self.date_from or self.date_to or self.min_quality is not None)

    def chroma_where(self) -> dict | None:
        """Chroma metadata filter; dates are stored as yyyymmdd integers so ranges work."""
        c: list[dict] = []
        if self.document_type:
            c.append({"document_type": {"$in": self.document_type}})
        if self.domain:
            c.append({"domain": {"$in": self.domain}})
        if self.date_from:
            c.append({"date_int": {"$gte": date_int(self.date_from.isoformat())}})
        if self.date_to:
            c.append({"date_int": {"$lte": date_int(self.date_to.isoformat())}})
        if self.min_quality is not None:
            c.append({"quality_score": {"$gte": float(self.min_quality)}})
        return None if not c else c[0] if len(c) == 1 else {"$and": c}

    def cypher(self, var: str = "d") -> tuple[str, dict]:
        """`AND ...` conditions over Document node properties, with parameters (Kùzu and Neo4j alike)."""
        parts, params = [], {}
        if self.document_type:
            parts.append(f"{var}.document_type IN $f_types")
            params["f_types"] = self.document_type
        if self.domain:
            parts.append(f"{var}.domain IN $f_domains")
            params["f_domains"] = self.domain
        if self.date_from:
            parts.append(f"{var}.date_int >= $f_from")
            params["f_from"] = date_int(self.date_from.isoformat())
        if self.date_to:
            parts.append(f"{var}.date_int <= $f_to")
            params["f_to"] = date_int(self.date_to.isoformat())
        if self.min_quality is not None:
            parts.append(f"{var}.quality_score >= $f_q")
            params["f_q"] = float(self.min_quality)
        return "".join(f" AND {p}" for p in parts), params

    def matches(self, doc) -> bool:
        """Whether one document passes, in memory; `doc` has document_type, domain, date_int and quality_score."""
        return ((not self.document_type or doc.document_type in self.document_type)
                and (not self.domain or doc.domain in self.domain)
                and (not self.date_from or doc.date_int >= date_int(self.date_from.isoformat()))
                and (not self.date_to or doc.date_int <= date_int(self.date_to.isoformat()))
                and (self.min_quality is None or doc.quality_score >= self.min_quality))

    def sql(self, table) -> list:
        """SQLAlchemy conditions over the corpus_documents table."""
        conds = []
        if self.document_type:
            conds.append(table.c.document_type.in_(self.document_type))
        if self.domain:
            conds.append(table.c.domain.in_(self.domain))
        if self.date_from:
            conds.append(table.c.date >= self.date_from.isoformat())
        if self.date_to:
            conds.append(table.c.date <= self.date_to.isoformat())
        if self.min_quality is not None:
            conds.append(table.c.quality_score >= self.min_quality)
        return conds


def date_int(iso: str | None) -> int:
    """yyyy-mm-dd -> yyyymmdd (0 when unknown, so open-ended ranges exclude undated documents)."""
    return int(iso.replace("-", "")) if iso else 0
