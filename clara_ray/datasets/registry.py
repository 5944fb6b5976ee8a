"""Dataset registry: immutable versions (a JSONL file in the dataset store + a `datasets` row with stats)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from clara_ray.datasets.errors import DatasetInputError, DatasetNotFound
from clara_ray.datasets.recordio import read_jsonl, write_jsonl
from clara_ray.datasets.stats import compute_stats
from clara_ray.datasets.storage import join
from clara_ray.db.engine import Database
from clara_ray.db.tables import DatasetRecord, new_id
from clara_ray.names import InvalidName, NameKind, check_name


def dataset_view(row: DatasetRecord) -> dict:
    return {"id": row.id, "name": row.name, "version": row.version, "uri": row.uri, "format": row.format,
            "source": row.source, "stats": row.stats, "created_by": row.created_by,
            "created_at": row.created_at.isoformat() if row.created_at else None}


class DatasetRegistry:
    def __init__(self, db: Database, store_uri: str):
        self.db = db
        self.store_uri = store_uri

    def create(self, name: str, records: list[dict], *, source: dict, created_by: str | None = None,
               extra_stats: dict | None = None) -> dict:
        """Write the records and register them as the next version of `name`."""
        try:
            check_name(name, NameKind.DATASET)  # it becomes a folder: checked here too, not only at the API
        except InvalidName as e:
            raise DatasetInputError(str(e), "name") from None
        if not records:
            raise DatasetInputError("the dataset would be empty", "source")
        ds_id = new_id()
        # The file name carries the id, not the version: a version-number race never overwrites a file.
        uri = join(self.store_uri, name, f"{ds_id}.jsonl")
        size = write_jsonl(uri, records)
        stats = {**compute_stats(records), "bytes": size, **(extra_stats or {})}
        for _ in range(5):
            try:
                with self.db.session() as s:
                    version = (s.scalar(select(func.max(DatasetRecord.version)).where(DatasetRecord.name == name)) or 0) + 1
                    row = DatasetRecord(id=ds_id, name=name, version=version, uri=uri, format="jsonl",
                                        source=source, stats=stats, created_by=created_by)
                    s.add(row)
                return dataset_view(row)
            except IntegrityError:
                continue  # another writer took this version number: take the next
        raise RuntimeError(f"could not allocate a version for dataset {name!r}")

    def get(self, dataset_id: str) -> DatasetRecord:
        with self.db.session() as s:
            row = s.get(DatasetRecord, dataset_id)
        if row is None:
            raise DatasetNotFound(f"dataset {dataset_id} not found")
        return row

    def list(self, *, name: str | None = None, offset: int = 0, limit: int = 50) -> dict:
        with self.db.session() as s:
            q = select(DatasetRecord)
            if name:
                q = q.where(DatasetRecord.name == name)
            total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
            rows = s.scalars(q.order_by(DatasetRecord.created_at.desc(), DatasetRecord.name, DatasetRecord.version.desc())
                             .offset(offset).limit(limit)).all()
        return {"items": [dataset_view(r) for r in rows], "total": total, "offset": offset, "limit": limit}

    def records(self, dataset_id: str) -> list[dict]:
        return list(read_jsonl(self.get(dataset_id).uri))
