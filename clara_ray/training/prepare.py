"""Ray Data preparation: read JSONL/Parquet/CSV/text -> validate -> quality filter -> tokenise + loss mask -> dedup -> split -> pack.

Row-wise work (parsing, checks, tokenisation) runs as Ray Data tasks with fractional CPUs, so it never
starves alongside Train workers or Serve replicas (STACK.md: the silent hang). Dedup, the split and
packing are global and cheap, so they run on the driver over the tokenised rows, in content-hash
order, which makes the result independent of how Ray Data scheduled the blocks.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from clara_ray.training.packing import Blocks, pack
from clara_ray.records import (
    QualityLimits,
    RecordError,
    content_hash,
    content_of,
    is_validation,
    normalise,
    quality_problem,
)
from clara_ray.datasets.errors import DatasetInputError
from clara_ray.datasets.readers import expand_paths, ray_dataset
from clara_ray.model.chat_format import Encoded, TemplateError, encode_record
from clara_ray.model.tokenizer import load_tokenizer


class DataError(ValueError):
    """The input cannot be trained on; the message names the files and the reasons."""


@dataclass
class PreparedData:
    """Packed train/validation blocks (ids, loss mask, positions), plus what happened to every record."""

    train_blocks: Blocks
    val_blocks: Blocks
    stats: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Tokenization:
    """How records become token ids: the base's tokenizer, its chat template and the loss rule."""

    tokenizer_path: str
    """Folder (or hub id) of the base model's tokenizer."""
    chat_template: str | None = None
    """`model.chat_template` resolved to Jinja text (None: the tokenizer's own, else the default)."""
    train_on_prompt: bool = False
    """Loss on every token of chat records, not only on assistant turns."""
    max_tokens: int = 512
    """Longest record in tokens: longer chat records are rejected (cutting would drop the closing token),
    longer plain texts are cut."""
    columns: tuple[tuple[str, str], ...] = ()
    """Column mapping (canonical field -> the data's field name)."""


def encode(item: list[dict] | str, tok, spec: Tokenization) -> Encoded:
    """A normalised record as ids + loss mask under `spec`; RecordError when it cannot be used."""
    try:
        enc = encode_record(tok, item, train_on_prompt=spec.train_on_prompt)
    except TemplateError as e:
        raise RecordError(str(e)) from None
    if len(enc.ids) > spec.max_tokens:
        if not isinstance(item, str):
            raise RecordError(f"too many tokens ({len(enc.ids)} > data.max_seq_length {spec.max_tokens})")
        enc = Encoded(enc.ids[: spec.max_tokens], enc.loss[: spec.max_tokens])
    if not any(enc.loss[1:]):
        raise RecordError("nothing to learn (no completion tokens)")
    return enc


def process_rows(batch: dict, *, spec: Tokenization, limits: QualityLimits, record_filter: dict | None) -> dict:
    """One Ray Data batch: parse, validate, filter, tokenise. Rejected rows keep their reason."""
    tok = load_tokenizer(spec.tokenizer_path, spec.chat_template)
    columns = dict(spec.columns) or None
    out = {"ok": [], "reason": [], "hash": [], "ids": [], "loss": [], "path": []}
    n = len(batch["path"])
    for i in range(n):
        path = str(batch["path"][i])
        try:
            payload = str(batch["payload"][i])
            if batch["kind"][i] == "text":  # a .txt/.md file: one plain-text record
                record = {"text": payload}
            elif not payload.strip():
                continue
            else:
                try:
                    record = json.loads(payload)
                except json.JSONDecodeError as e:
                    raise RecordError(f"invalid JSON ({e.msg})") from None
            if record_filter and isinstance(record, dict) and any(
                str(record.get(k)) != v for k, v in record_filter.items()
            ):
                continue
            item = normalise(record, columns=columns)
            text = content_of(item)
            problem = quality_problem(text, limits)
            if problem:
                raise RecordError(problem)
            enc = encode(item, tok, spec)
            out["ok"].append(True), out["reason"].append(""), out["hash"].append(content_hash(text))
            out["ids"].append(np.asarray(enc.ids, dtype=np.int32)), out["loss"].append(np.asarray(enc.loss))
        except RecordError as e:
            out["ok"].append(False), out["reason"].append(str(e)), out["hash"].append("")
            out["ids"].append(np.zeros(0, dtype=np.int32)), out["loss"].append(np.zeros(0, dtype=bool))
        out["path"].append(path)
    return out


def read_dataset(paths: list[str], *, cpus: float):
    """The input files as one Ray Dataset of payload rows (datasets/readers.py, shared with corpus ingest)."""
    try:
        files = expand_paths(paths)
    except DatasetInputError as e:
        raise DataError(str(e).removeprefix("paths: ")) from None
    # Small inputs read as one block: each extra block costs a task (and, cold, a worker process start).
    local = [f for fs in files.values() for f in fs if "://" not in f]
    blocks = None if len(local) < sum(map(len, files.values())) else \
        max(1, sum(Path(f).stat().st_size for f in local) // (32 << 20) + 1)
    return ray_dataset(files, cpus, blocks)


def prepare(
    paths: list[str],
    *,
    spec: Tokenization,
    block_size: int,
    val_fraction: float,
    limits: QualityLimits,
    record_filter: dict | None = None,
    cpus: float = 0.25,
) -> PreparedData:
    """Run the pipeline and return packed train/validation blocks with per-reason counts."""
    if not paths:
        raise DataError("no data files given")
    fn = functools.partial(process_rows, spec=spec, limits=limits, record_filter=record_filter)
    rows = read_dataset(paths, cpus=cpus).map_batches(fn, batch_format="numpy", num_cpus=cpus,
                                                      batch_size=256).take_all()
    return assemble(rows, block_size=block_size, val_fraction=val_fraction,
                    pad_id=load_tokenizer(spec.tokenizer_path, spec.chat_template).pad_token_id, paths=paths)


def prepare_local(
    paths: list[str],
    *,
    spec: Tokenization,
    block_size: int,
    val_fraction: float,
    limits: QualityLimits,
    record_filter: dict | None = None,
) -> PreparedData:
    """`prepare` in this process, without Ray Data, for small local inputs (a warm worker's jobs): the same reader
    payloads (datasets/readers.py payloads_local), the same row function and the same driver step, so the Blocks
    are identical (assemble orders records by content hash, whatever order the rows came in)."""
    from clara_ray.datasets.readers import payloads_local

    if not paths:
        raise DataError("no data files given")
    try:
        files = expand_paths(paths)
    except DatasetInputError as e:
        raise DataError(str(e).removeprefix("paths: ")) from None
    rows: list[dict] = []
    for batch in payloads_local(files):
        out = process_rows(batch, spec=spec, limits=limits, record_filter=record_filter)
        rows += [{k: out[k][i] for k in out} for i in range(len(out["ok"]))]
    return assemble(rows, block_size=block_size, val_fraction=val_fraction,
                    pad_id=load_tokenizer(spec.tokenizer_path, spec.chat_template).pad_token_id, paths=paths)


def _shown(path: str) -> str:
    """A data file as clients see it in errors and stats: its name, not the server folder it lies in."""
    return str(path).rstrip("/").rsplit("/", 1)[-1]


def assemble(rows: list[dict], *, block_size: int, val_fraction: float, pad_id: int, paths: list[str]) -> PreparedData:
    """Dedup, split and pack processed rows (driver side, deterministic)."""
    rejected = Counter(r["reason"].split(" (")[0] for r in rows if not r["ok"])
    examples = [f"{_shown(r['path'])}: {r['reason']}" for r in rows if not r["ok"]][:5]
    kept: dict[str, Encoded] = {}
    duplicates = 0
    for r in rows:
        if not r["ok"]:
            continue
        if r["hash"] in kept:
            duplicates += 1
        else:
            kept[r["hash"]] = Encoded(np.asarray(r["ids"]).tolist(), np.asarray(r["loss"], dtype=bool).tolist())
    if not kept:
        summary = ", ".join(f"{reason}: {n}" for reason, n in rejected.most_common(5)) or "no records"
        raise DataError(f"no valid training records in {', '.join(map(_shown, paths))} ({summary})")
    train, val = [], []
    for h in sorted(kept):
        (val if is_validation(h, val_fraction) else train).append(kept[h])
    if not val:  # tiny inputs: hold out at least one record so perplexity is measurable
        val.append(train.pop())
    if not train:
        train.append(val[0])
    stats = {
        "records_total": len(rows),
        "records_accepted": len(kept),
        "records_rejected": sum(rejected.values()),
        "duplicates": duplicates,
        "rejected_by_reason": dict(rejected),
        "rejected_examples": examples,
        "train_records": len(train),
        "val_records": len(val),
        "train_tokens": sum(len(e.ids) for e in train),
        "val_tokens": sum(len(e.ids) for e in val),
    }
    train_blocks, val_blocks = pack(train, block_size, pad_id), pack(val, block_size, pad_id)
    stats.update(train_blocks=len(train_blocks), val_blocks=len(val_blocks),
                 train_target_tokens=train_blocks.target_tokens, val_target_tokens=val_blocks.target_tokens)
    return PreparedData(train_blocks, val_blocks, stats)
