"""Record shapes accepted for training, their normalisation to chat turns, and per-record quality checks.

Accepted shapes (one per record), detected in this order; fields that are None (Parquet/CSV nulls) count as absent:
  {"messages": [{"role", "content"}]}       OpenAI chat: roles system|developer(=system)|user|assistant;
                                            content a string or a list of {"type": "text", "text"} parts
  {"conversations": [{"from", "value"}]}    ShareGPT: from human|user|gpt|assistant|system
  {"instruction", "input"?, "output", "system"?}   alpaca; user turn = instruction + "\n\n" + input
  {"prompt", "completion"}                  TRL: two strings, or two lists of OpenAI messages (conversational)
  {"prompt", "response"}                    one question/answer turn
  {"text"}                                  plain text (continued pre-training)
`messages` and `conversations` may also be JSON text (CSV/Parquet cells). A chat must contain and end with an
assistant turn. `columns` maps canonical field names onto the names used in the data (see `check_columns`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

ROLES = {"system", "user", "assistant"}
ROLE_ALIASES = {"developer": "system"}  # OpenAI's newer name for the system role
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}
CANONICAL_FIELDS = (
    "text", "prompt", "response", "completion", "messages", "conversations", "instruction", "input", "output", "system",
)


class RecordError(ValueError):
    """A record does not have one of the accepted shapes; the message says what is wrong."""


@dataclass(frozen=True)
class QualityLimits:
    min_length: int = 50
    max_length: int = 2048


def _excerpt(value: object, limit: int = 40) -> str:
    """repr() cut to `limit` characters, so errors never echo a whole record."""
    s = repr(value)
    return s if len(s) <= limit else s[: limit - 3] + "..."


def check_columns(columns: Mapping[str, str] | None) -> dict[str, str]:
    """Validate a column mapping {canonical field: field name in the data}; ValueError names the bad key."""
    if columns is None:
        return {}
    if not isinstance(columns, Mapping):
        raise ValueError(f"columns must be a mapping, got {type(columns).__name__}")
    mapped_from: dict[str, str] = {}
    for key, source in columns.items():
        if key not in CANONICAL_FIELDS:
            raise ValueError(f"columns: unknown field {_excerpt(key)} (use one of: {', '.join(CANONICAL_FIELDS)})")
        if not isinstance(source, str) or not source.strip():
            raise ValueError(f"columns[{key!r}] must be a non-empty column name")
        if source in mapped_from:
            raise ValueError(
                f"columns[{key!r}]: column {_excerpt(source)} is already mapped to {mapped_from[source]!r}")
        mapped_from[source] = key
    return dict(columns)


def _apply_columns(record: dict, columns: Mapping[str, str]) -> dict:
    """Rename the mapped source fields onto their canonical names (all at once, so swaps work)."""
    for canon, source in columns.items():
        if source not in record:
            raise RecordError(f"missing column {_excerpt(source)} (mapped to {canon!r})")
    sources = set(columns.values())
    out = {k: v for k, v in record.items() if k not in sources}
    out.update({canon: record[source] for canon, source in columns.items()})
    return out


def _text(record: dict, field: str) -> str:
    v = record.get(field)
    if v is None or (isinstance(v, str) and not v.strip()):
        raise RecordError(f"missing or empty {field!r}")
    if not isinstance(v, str):
        raise RecordError(f"{field!r} must be a string (got {type(v).__name__})")
    return v


def _optional_text(record: dict, field: str) -> str:
    v = record.get(field)
    if v is not None and not isinstance(v, str):
        raise RecordError(f"{field!r} must be a string (got {type(v).__name__})")
    return v if v and v.strip() else ""


def _json_list(value: object, field: str) -> list:
    if isinstance(value, str):  # CSV/Parquet columns may carry JSON text
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise RecordError(f"{field!r} is not valid JSON ({e.msg})") from None
    if not isinstance(value, list) or not value:
        raise RecordError(f"{field!r} must be a non-empty list")
    return value


def _content(value: object, field: str, where: str) -> str:
    """A message's content: a string, or text parts joined with newlines."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise RecordError(
            f"{field!r}: content must be a string or a list of text parts ({where} is {type(value).__name__})")
    texts = []
    for j, part in enumerate(value):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind != "text":
            got = _excerpt(kind, 24) if isinstance(part, dict) else type(part).__name__
            raise RecordError(f"{field!r}: unsupported content part ({where}[{j}] type {got}; only 'text')")
        if not isinstance(part.get("text"), str):
            raise RecordError(f"{field!r}: text part without string 'text' ({where}[{j}])")
        texts.append(part["text"])
    return "\n".join(texts)


def _chat(value: object, field: str) -> list[dict]:
    """OpenAI-style messages found in record field `field` (named in errors)."""
    out = []
    for i, m in enumerate(_json_list(value, field)):
        if not isinstance(m, dict):
            raise RecordError(f"{field!r}: message is not an object ({field}[{i}] is {type(m).__name__})")
        role = ROLE_ALIASES.get(m.get("role"), m.get("role"))
        if role not in ROLES:
            raise RecordError(f"{field!r}: unknown role ({field}[{i}].role {_excerpt(m.get('role'), 24)}; "
                              "use system, developer, user or assistant)")
        out.append({"role": role, "content": _content(m.get("content"), field, f"{field}[{i}].content")})
    return out


def _sharegpt(value: object) -> list[dict]:
    out = []
    for i, m in enumerate(_json_list(value, "conversations")):
        if not isinstance(m, dict):
            raise RecordError(f"'conversations': turn is not an object (conversations[{i}] is {type(m).__name__})")
        role = SHAREGPT_ROLES.get(m.get("from")) if isinstance(m.get("from"), str) else None
        if role is None:
            raise RecordError(f"'conversations': unknown 'from' (conversations[{i}].from "
                              f"{_excerpt(m.get('from'), 24)}; use human, user, gpt, assistant or system)")
        if not isinstance(m.get("value"), str):
            raise RecordError(f"'conversations': 'value' must be a string (conversations[{i}])")
        out.append({"role": role, "content": m["value"]})
    return out


def _ends_with_answer(msgs: list[dict], field: str) -> list[dict]:
    if not any(m["role"] == "assistant" for m in msgs):
        raise RecordError(f"{field!r} has no assistant turn")
    if msgs[-1]["role"] != "assistant":
        raise RecordError(f"{field!r} does not end with an assistant turn (last role {msgs[-1]['role']!r})")
    return msgs


def _alpaca(record: dict) -> list[dict]:
    instruction, output = _text(record, "instruction"), _text(record, "output")
    extra, system = _optional_text(record, "input"), _optional_text(record, "system")
    user = instruction + ("\n\n" + extra if extra else "")
    head = [{"role": "system", "content": system}] if system else []
    return head + [{"role": "user", "content": user}, {"role": "assistant", "content": output}]


def _prompt_completion(record: dict) -> list[dict]:
    p, c = record.get("prompt"), record.get("completion")
    if isinstance(p, list) or isinstance(c, list):  # TRL conversational
        if not (isinstance(p, list) and isinstance(c, list)):
            raise RecordError("'prompt' and 'completion' must both be strings or both lists of messages")
        return _ends_with_answer(_chat(p, "prompt") + _chat(c, "completion"), "completion")
    return [{"role": "user", "content": _text(record, "prompt")},
            {"role": "assistant", "content": _text(record, "completion")}]


def normalise(record: object, *, columns: Mapping[str, str] | None = None) -> list[dict] | str:
    """Return chat messages (role/content dicts) or plain text; raise RecordError on a bad shape.

    `columns` ({canonical field: field in the data}) renames the data's fields first; a bad mapping is a ValueError.
    """
    if not isinstance(record, dict):
        raise RecordError(f"record must be an object, got {type(record).__name__}")
    if columns:
        record = _apply_columns(record, check_columns(columns))
    has = {k for k, v in record.items() if v is not None}
    if "messages" in has:
        return _ends_with_answer(_chat(record["messages"], "messages"), "messages")
    if "conversations" in has:
        return _ends_with_answer(_sharegpt(record["conversations"]), "conversations")
    if "instruction" in has or "output" in has:
        return _alpaca(record)
    if "completion" in has:
        return _prompt_completion(record)
    if "prompt" in has or "response" in has:
        return [{"role": "user", "content": _text(record, "prompt")},
                {"role": "assistant", "content": _text(record, "response")}]
    if "text" in record:
        if not isinstance(record["text"], str) or not record["text"].strip():
            raise RecordError("'text' must be a non-empty string")
        return record["text"]
    fields = [_excerpt(k, 24) for k in sorted(map(str, record))[:8]]
    raise RecordError("no 'text', 'prompt'/'response', 'prompt'/'completion', 'instruction'/'output', 'messages' "
                      f"or 'conversations' field (fields: {', '.join(fields)})")


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
