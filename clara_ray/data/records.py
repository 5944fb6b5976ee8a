"""Record shapes accepted for training, their normalisation to chat turns, and per-record quality checks.

Accepted shapes (one per record):
  {"text": str}                                 plain text (continued pre-training)
  {"prompt": str, "response": str}              one question/answer turn
  {"messages": [{"role": ..., "content": ...}]} a chat, roles system|user|assistant
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

ROLES = {"system", "user", "assistant"}


class RecordError(ValueError):
    """A record does not have one of the accepted shapes; the message says what is wrong."""


@dataclass(frozen=True)
class QualityLimits:
    min_length: int = 50
    max_length: int = 2048


def normalise(record: object) -> list[dict] | str:
    """Return chat messages (prompt/response, messages) or plain text; raise RecordError on a bad shape."""
    if not isinstance(record, dict):
        raise RecordError(f"record must be an object, got {type(record).__name__}")
    if "messages" in record and record["messages"] is not None:
        msgs = record["messages"]
        if isinstance(msgs, str):  # CSV/Parquet columns may carry JSON text
            try:
                msgs = json.loads(msgs)
            except json.JSONDecodeError as e:
                raise RecordError(f"'messages' is not valid JSON: {e.msg}") from None
        if not isinstance(msgs, list) or not msgs:
            raise RecordError("'messages' must be a non-empty list")
        for i, m in enumerate(msgs):
            if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
                raise RecordError(f"messages[{i}] needs role in {sorted(ROLES)} and string content")
        if not any(m["role"] == "assistant" for m in msgs):
            raise RecordError("'messages' has no assistant turn")
        return [{"role": m["role"], "content": m["content"]} for m in msgs]
    if "prompt" in record or "response" in record:
        p, r = record.get("prompt"), record.get("response")
        if not isinstance(p, str) or not p.strip():
            raise RecordError("missing or empty 'prompt'")
        if not isinstance(r, str) or not r.strip():
            raise RecordError("missing or empty 'response'")
        return [{"role": "user", "content": p}, {"role": "assistant", "content": r}]
    if "text" in record:
        if not isinstance(record["text"], str) or not record["text"].strip():
            raise RecordError("'text' must be a non-empty string")
        return record["text"]
    raise RecordError(f"no 'text', 'prompt'/'response' or 'messages' field (fields: {sorted(record)[:8]})")


def content_of(item: list[dict] | str) -> str:
    """The raw text a quality check or a hash looks at."""
    return item if isinstance(item, str) else "\n".join(m["content"] for m in item)


def quality_problem(text: str, limits: QualityLimits) -> str | None:
    """Reason the text fails the quality filter, or None. Lengths are in characters."""
    if len(text) < limits.min_length:
        return f"too short ({len(text)} < {limits.min_length} chars)"
    if len(text) > limits.max_length:
        return f"too long ({len(text)} > {limits.max_length} chars)"
    if "\ufffd" in text:
        return "invalid UTF-8 (replacement characters)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "invalid UTF-8 (lone surrogates)"
    return None


def content_hash(text: str) -> str:
    """Exact-duplicate key: whitespace- and case-normalised SHA-256."""
    return hashlib.sha256(" ".join(text.lower().split()).encode("utf-8")).hexdigest()


def is_validation(hash_hex: str, val_fraction: float) -> bool:
    """Deterministic split by content: the same record always lands on the same side."""
    return int(hash_hex[:8], 16) / 0xFFFFFFFF < val_fraction


def pack(token_lists: list[list[int]], block_size: int, pad_id: int) -> list[list[int]]:
    """Concatenate tokenised records into fixed-length blocks.

    The stream is cut every `block_size` tokens; a final partial block is right-padded with `pad_id`
    only when nothing else would be produced (tiny datasets), otherwise dropped.
    """
    stream = [t for ids in token_lists for t in ids]
    blocks = [stream[i : i + block_size] for i in range(0, len(stream) - block_size + 1, block_size)]
    if not blocks and stream:
        blocks = [stream + [pad_id] * (block_size - len(stream))]
    return blocks
