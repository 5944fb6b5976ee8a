"""Evaluation sets (validation per alias, a fixed regression set) and perplexity of a base model + adapter on them."""

from __future__ import annotations

import math
from pathlib import Path

from clara_ray.adapters.registry import AdapterRegistry
from clara_ray.data.records import RecordError, content_hash, content_of, is_validation, normalise

MAX_EVAL_RECORDS = 64


def _records(path: str, record_filter: dict | None) -> list[dict]:
    import pandas as pd

    from clara_ray.resources import load_jsonl

    suffix = Path(path).suffix.lower()
    rows = load_jsonl(Path(path)) if suffix in (".jsonl", ".json") else (
        pd.read_parquet(path) if suffix == ".parquet" else pd.read_csv(path)).to_dict("records")
    return [r for r in rows if not record_filter or all(str(r.get(k)) == v for k, v in record_filter.items())]


def validation_records(registry: AdapterRegistry, version_id: str, val_fraction: float) -> list[dict]:
    """The held-out split of the data the alias's first version was trained on (trusted, fixed across cycles)."""
    v = registry.get_version(version_id)
    while v.parent_id:  # walk back to the version trained from curated data
        v = registry.get_version(v.parent_id)
    ds = v.dataset or {}
    out = []
    for path in ds.get("paths") or []:
        if not Path(path).is_file():
            continue
        for r in _records(path, ds.get("filter")):
            try:
                item = normalise(r)
            except RecordError:
                continue
            if is_validation(content_hash(content_of(item)), val_fraction):
                out.append(item)
    if not out:  # imported adapters: fall back to the bundled corpus of its domain
        from clara_ray.resources import load_jsonl, qa_path

        out = [normalise(r) for r in load_jsonl(qa_path()) if r.get("domain") == v.domain][-MAX_EVAL_RECORDS:]
    return out[:MAX_EVAL_RECORDS]


def regression_records(path: str | None) -> list[dict]:
    """A fixed, domain-spanning sample: every 25th bundled Q&A record unless a file is configured."""
    from clara_ray.resources import load_jsonl, qa_path

    rows = load_jsonl(Path(path)) if path else load_jsonl(qa_path())[::25]
    return [normalise(r) for r in rows][:MAX_EVAL_RECORDS]


def perplexity_of(base_model_path: str, adapter_path: str | None, records: list) -> float:
    """Token-level perplexity of base (+ adapter) over chat-formatted records (CPU or the task's GPU)."""
    import torch
    from transformers import AutoModelForCausalLM

    from clara_ray.model.base_model import load_tokenizer

    tok = load_tokenizer(base_model_path)
    model = AutoModelForCausalLM.from_pretrained(base_model_path)
    if adapter_path:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter_path)
    model.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for item in records:
            text = item if isinstance(item, str) else tok.apply_chat_template(item, tokenize=False)
            ids = tok(text + tok.eos_token, add_special_tokens=False, return_tensors="pt")["input_ids"][:, :512]
            if ids.shape[1] < 2:
                continue
            loss = model(input_ids=ids, labels=ids).loss
            total += float(loss) * (ids.shape[1] - 1)
            n += ids.shape[1] - 1
    return math.exp(total / max(n, 1))
