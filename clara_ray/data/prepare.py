"""Ray Data preparation: read JSONL/Parquet/CSV -> validate -> quality filter -> tokenise -> dedup -> split -> pack.

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

from clara_ray.data.records import (
    QualityLimits,
    RecordError,
    content_hash,
    content_of,
    is_validation,
    normalise,
    pack,
    quality_problem,
)


class DataError(ValueError):
    """The input cannot be trained on; the message names the files and the reasons."""


@dataclass
class PreparedData:
    """Packed token blocks, shape (n_blocks, block_size) int32, plus what happened to every record."""

    train_blocks: np.ndarray
    val_blocks: np.ndarray
    stats: dict = field(default_factory=dict)


@functools.lru_cache(maxsize=4)
def _tokenizer(path: str):
    from clara_ray.model.base_model import load_tokenizer

    return load_tokenizer(path)


def _format(item: list[dict] | str, tok) -> str:
    if isinstance(item, str):
        return (tok.bos_token or "") + item + (tok.eos_token or "")
    return tok.apply_chat_template(item, tokenize=False) + (tok.eos_token or "")


def process_rows(batch: dict, *, tokenizer_path: str, limits: QualityLimits, max_tokens: int,
                 record_filter: dict | None) -> dict:
    """One Ray Data batch: parse, validate, filter, tokenise. Rejected rows keep their reason."""
    tok = _tokenizer(tokenizer_path)
    out = {"ok": [], "reason": [], "hash": [], "ids": [], "path": []}
    n = len(batch["path"])
    for i in range(n):
        path = str(batch["path"][i])
        try:
            if "__line" in batch:  # JSONL read as text lines
                line = batch["__line"][i]
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as e:
                    raise RecordError(f"invalid JSON ({e.msg})") from None
            else:
                record = {k: _plain(batch[k][i]) for k in batch if k != "path"}
            if record_filter and isinstance(record, dict) and any(
                str(record.get(k)) != v for k, v in record_filter.items()
            ):
                continue
            item = normalise(record)
            text = content_of(item)
            problem = quality_problem(text, limits)
            if problem:
                raise RecordError(problem)
            ids = tok(_format(item, tok), add_special_tokens=False)["input_ids"][:max_tokens]
            out["ok"].append(True), out["reason"].append(""), out["hash"].append(content_hash(text))
            out["ids"].append(np.asarray(ids, dtype=np.int32))
        except RecordError as e:
            out["ok"].append(False), out["reason"].append(str(e)), out["hash"].append("")
            out["ids"].append(np.zeros(0, dtype=np.int32))
        out["path"].append(path)
    return out


def _plain(v):
    # Parquet/CSV cells arrive as numpy scalars or NaN; records want plain Python.
    if isinstance(v, float) and v != v:
        return None
    return v.item() if hasattr(v, "item") else v


def read_dataset(paths: list[str], *, cpus: float):
    """Open the files as one Ray Dataset; JSONL is read as lines so a broken line is a rejected row."""
    import ray.data

    by_kind: dict[str, list[str]] = {}
    for p in paths:
        suffix = Path(p.split("?")[0]).suffix.lower()
        kind = {".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet", ".csv": "csv"}.get(suffix)
        if kind is None:
            raise DataError(f"{p}: unsupported file type '{suffix}' (use .jsonl, .parquet or .csv)")
        if "://" not in p and not Path(p).exists():
            raise DataError(f"{p}: file not found")
        by_kind.setdefault(kind, []).append(p)
    # Small inputs read as one block: each extra block costs a task (and, cold, a worker process start).
    local_bytes = sum(Path(p).stat().st_size for p in paths if "://" not in p)
    blocks = None if any("://" in p for p in paths) else max(1, local_bytes // (32 << 20) + 1)
    parts = []
    for kind, files in by_kind.items():
        if kind == "jsonl":
            ds = ray.data.read_text(files, include_paths=True, ray_remote_args={"num_cpus": cpus},
                                    override_num_blocks=blocks)
            parts.append(ds.rename_columns({"text": "__line"}))
        elif kind == "parquet":
            parts.append(ray.data.read_parquet(files, include_paths=True, ray_remote_args={"num_cpus": cpus},
                                                override_num_blocks=blocks))
        else:
            parts.append(ray.data.read_csv(files, include_paths=True, ray_remote_args={"num_cpus": cpus},
                                            override_num_blocks=blocks))
    return parts


def prepare(
    paths: list[str],
    *,
    tokenizer_path: str,
    block_size: int,
    val_fraction: float,
    limits: QualityLimits,
    max_tokens: int = 512,
    record_filter: dict | None = None,
    cpus: float = 0.25,
) -> PreparedData:
    """Run the pipeline and return packed train/validation blocks with per-reason counts."""
    if not paths:
        raise DataError("no data files given")
    fn = functools.partial(process_rows, tokenizer_path=tokenizer_path, limits=limits,
                           max_tokens=max_tokens, record_filter=record_filter)
    rows: list[dict] = []
    for ds in read_dataset(paths, cpus=cpus):
        rows.extend(ds.map_batches(fn, batch_format="numpy", num_cpus=cpus, batch_size=256).take_all())
    return assemble(rows, block_size=block_size, val_fraction=val_fraction,
                    pad_id=_tokenizer(tokenizer_path).pad_token_id, paths=paths)


def assemble(rows: list[dict], *, block_size: int, val_fraction: float, pad_id: int, paths: list[str]) -> PreparedData:
    """Dedup, split and pack processed rows (driver side, deterministic)."""
    rejected = Counter(r["reason"].split(" (")[0] for r in rows if not r["ok"])
    examples = [f"{r['path']}: {r['reason']}" for r in rows if not r["ok"]][:5]
    kept: dict[str, np.ndarray] = {}
    duplicates = 0
    for r in rows:
        if not r["ok"]:
            continue
        if r["hash"] in kept:
            duplicates += 1
        else:
            kept[r["hash"]] = r["ids"]
    if not kept:
        summary = ", ".join(f"{reason}: {n}" for reason, n in rejected.most_common(5)) or "no records"
        raise DataError(f"no valid training records in {', '.join(paths)} ({summary})")
    train, val = [], []
    for h in sorted(kept):
        (val if is_validation(h, val_fraction) else train).append(kept[h].tolist())
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
        "train_tokens": sum(map(len, train)),
        "val_tokens": sum(map(len, val)),
    }
    train_blocks = np.asarray(pack(train, block_size, pad_id), dtype=np.int32).reshape(-1, block_size)
    val_blocks = np.asarray(pack(val, block_size, pad_id), dtype=np.int32).reshape(-1, block_size)
    stats.update(train_blocks=len(train_blocks), val_blocks=len(val_blocks))
    return PreparedData(train_blocks, val_blocks, stats)
