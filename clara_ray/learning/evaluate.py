"""Evaluation sets: validation per alias (from its first version's data), a fixed regression set, the alias's own data.

Scoring happens in learning/evaluator.py (the base model loaded once per cycle)."""

from __future__ import annotations

from pathlib import Path

from clara_ray.adapters.registry import AdapterRegistry
from clara_ray.records import RecordError, content_hash, content_of, is_validation, normalise
from clara_ray.datasets.recordio import read_rows
from clara_ray.db.tables import DatasetRecord

MAX_EVAL_RECORDS = 64
MAX_EVAL_TOKENS = 1024


class NoEvaluationData(ValueError):
    """No records to measure an adapter on: a gate decision would be meaningless."""


def _records(path: str, record_filter: dict | None) -> list[dict]:
    """Rows of a training file (local or any URI: registered datasets live in a store), filtered like the job."""
    rows = read_rows(path)
    return [r for r in rows if not record_filter or all(str(r.get(k)) == v for k, v in record_filter.items())]


def _exists(path: str) -> bool:
    import fsspec

    fs, p = fsspec.core.url_to_fs(path)
    return fs.isfile(p)


def _training_paths(registry: AdapterRegistry, ds: dict) -> list[str]:
    """Files a version was trained from: its data paths, or the file of its registered dataset."""
    if ds.get("paths"):
        return list(ds["paths"])
    if ds.get("dataset_id"):
        with registry.db.session() as s:
            row = s.get(DatasetRecord, ds["dataset_id"])
        return [row.uri] if row is not None else []
    return []


def _root(registry: AdapterRegistry, version_id: str):
    """The version an alias's lineage starts from: the one trained from curated data (cycles continue it)."""
    v = registry.get_version(version_id)
    while v.parent_id:
        v = registry.get_version(v.parent_id)
    return v


def _curated(registry: AdapterRegistry, v) -> list:
    """Every normalised record of the data version `v` was trained from (both splits); [] when it is gone."""
    ds = v.dataset or {}
    out = []
    for path in _training_paths(registry, ds):
        if not _exists(path):
            continue
        for r in _records(path, ds.get("filter")):
            try:
                out.append(normalise(r, columns=ds.get("columns")))
            except RecordError:
                continue
    return out


def _domain_records(domain: str | None) -> list:
    """The bundled corpus of a domain (imported adapters without training data of their own)."""
    if not domain:
        return []
    from clara_ray.resources import load_jsonl, qa_path

    return [normalise(r) for r in load_jsonl(qa_path()) if r.get("domain") == domain]


def alias_records(registry: AdapterRegistry, version_id: str) -> list:
    """The alias's own data: all records its first version was trained on, else the bundled corpus of its domain
    (the feedback filter's relevance reference); [] when there is neither."""
    v = _root(registry, version_id)
    return _curated(registry, v) or _domain_records(v.domain)


def validation_records(registry: AdapterRegistry, version_id: str, val_fraction: float) -> list[dict]:
    """The held-out split of the data the alias's first version was trained on (trusted, fixed across cycles)."""
    v = _root(registry, version_id)
    out = [item for item in _curated(registry, v) if is_validation(content_hash(content_of(item)), val_fraction)]
    if not out and v.domain:  # imported adapters: fall back to the bundled corpus of its domain
        out = _domain_records(v.domain)[-MAX_EVAL_RECORDS:]
    if not out:
        raise NoEvaluationData(f"no validation records for {v.name}: its training data is gone and it has no domain "
                               "with bundled records; retrain it from a dataset or give it a domain")
    return out[:MAX_EVAL_RECORDS]


def regression_records(path: str | None) -> list[dict]:
    """A fixed, domain-spanning sample: every 25th bundled Q&A record unless a file is configured."""
    from clara_ray.resources import load_jsonl, qa_path

    rows = load_jsonl(Path(path)) if path else load_jsonl(qa_path())[::25]
    return [normalise(r) for r in rows][:MAX_EVAL_RECORDS]
