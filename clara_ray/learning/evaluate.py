"""Evaluation sets (validation per alias, a fixed regression set) and perplexity of a base model + adapter on them."""

from __future__ import annotations

import math
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


def validation_records(registry: AdapterRegistry, version_id: str, val_fraction: float) -> list[dict]:
    """The held-out split of the data the alias's first version was trained on (trusted, fixed across cycles)."""
    v = registry.get_version(version_id)
    while v.parent_id:  # walk back to the version trained from curated data
        v = registry.get_version(v.parent_id)
    ds = v.dataset or {}
    out = []
    for path in _training_paths(registry, ds):
        if not _exists(path):
            continue
        for r in _records(path, ds.get("filter")):
            try:
                item = normalise(r, columns=ds.get("columns"))
            except RecordError:
                continue
            if is_validation(content_hash(content_of(item)), val_fraction):
                out.append(item)
    if not out and v.domain:  # imported adapters: fall back to the bundled corpus of its domain
        from clara_ray.resources import load_jsonl, qa_path

        out = [normalise(r) for r in load_jsonl(qa_path()) if r.get("domain") == v.domain][-MAX_EVAL_RECORDS:]
    if not out:
        raise NoEvaluationData(f"no validation records for {v.name}: its training data is gone and it has no domain "
                               "with bundled records; retrain it from a dataset or give it a domain")
    return out[:MAX_EVAL_RECORDS]


def regression_records(path: str | None) -> list[dict]:
    """A fixed, domain-spanning sample: every 25th bundled Q&A record unless a file is configured."""
    from clara_ray.resources import load_jsonl, qa_path

    rows = load_jsonl(Path(path)) if path else load_jsonl(qa_path())[::25]
    return [normalise(r) for r in rows][:MAX_EVAL_RECORDS]


def perplexity_of(base_model_path: str, adapter_path: str | None, records: list,
                  chat_template: str | None = None) -> float:
    """Perplexity of base (+ adapter) on the tokens training learns: assistant turns of chats, all of plain texts.

    Records are encoded exactly as training encodes them (model/chat_format.py), each on its own.
    """
    import torch
    from transformers import AutoModelForCausalLM

    from clara_ray.model.chat_format import TemplateError, encode_record
    from clara_ray.model.tokenizer import load_tokenizer

    tok = load_tokenizer(base_model_path, chat_template)
    model = AutoModelForCausalLM.from_pretrained(base_model_path)
    if adapter_path:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter_path)
    model.eval()
    if not records:
        raise NoEvaluationData("perplexity of an empty record set")
    total, n = 0.0, 0
    with torch.no_grad():
        for item in records:
            try:
                enc = encode_record(tok, item)
            except TemplateError:
                continue
            ids = torch.tensor([enc.ids[:MAX_EVAL_TOKENS]])
            labels = ids.masked_fill(~torch.tensor([enc.loss[:MAX_EVAL_TOKENS]]), -100)
            k = int((labels[:, 1:] != -100).sum())
            if k == 0:
                continue
            total += float(model(input_ids=ids, labels=labels).loss) * k
            n += k
    if n == 0:
        raise NoEvaluationData("no evaluation record has a token to score")
    return math.exp(total / n)
