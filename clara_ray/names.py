"""One checker for every client-chosen name that becomes a folder, file, registry key or Ray artifact name.

Rules, the same for every kind (only the character set and length differ):
- full match (`re.fullmatch`): a trailing newline never slips through as `re.match(...$)` lets it;
- ASCII only. Input is NOT normalised: a name that NFKC would change (fullwidth letters, ligatures) is refused
  with its ASCII form suggested, and so is any other non-ASCII character (Cyrillic/Greek look-alikes,
  zero-width and bidi-control characters). Refusing, not rewriting, keeps one spelling per stored name: what
  the client sent is exactly what is stored, listed and later matched;
- no control characters (newline, NUL, ...), no path separators, no dot-only names (`.`, `..`);
- starts and ends with a letter or digit; bounded length.

`check_name` raises `InvalidName` (a ValueError: inside a pydantic validator it becomes a 422 naming the field).
"""

from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass


class InvalidName(ValueError):
    """A name breaks the naming rules; the message says what is wrong and what is allowed."""


@dataclass(frozen=True)
class NameRule:
    pattern: re.Pattern
    """Full-match pattern of a valid name."""
    allowed: str
    """What is allowed, in words (ends every error message)."""
    max_length: int
    min_length: int = 1
    lowercase: bool = False


class NameKind(enum.Enum):
    """What a name is for; each kind has its own character set and length."""

    ADAPTER = NameRule(re.compile(r"[a-z](?:[a-z0-9_-]{0,46}[a-z0-9])"),
                       "2-48 characters: lowercase ASCII letters, digits, '_' or '-', starting with a letter and "
                       "ending with a letter or digit", 48, min_length=2, lowercase=True)
    """Adapter aliases: folder names in the adapter store and checkpoints, peft module names, metric labels."""
    DATASET = NameRule(re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,126}[A-Za-z0-9])?"),
                       "1-128 characters: ASCII letters, digits, '.', '_' or '-', starting and ending with a letter "
                       "or digit", 128)
    """Dataset names: folder names in the dataset store."""
    API_KEY = NameRule(re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9])?"),
                       "1-64 characters: ASCII letters, digits, '.', '_' or '-', starting and ending with a letter or "
                       "digit", 64)
    """API key names (listings and the audit log)."""
    PATH_PART = NameRule(re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?"),
                         "1-100 characters per folder: ASCII letters, digits, '.', '_' or '-', starting and ending "
                         "with a letter or digit", 100)
    """One folder of a relative output path (merge exports)."""


_CONTROL_NAMES = {"\n": "a newline", "\r": "a carriage return", "\t": "a tab", "\x00": "a NUL character"}


def _char(c: str) -> str:
    return f"U+{ord(c):04X} {unicodedata.name(c, 'unnamed character')}"


def _problem(value: str, rule: NameRule) -> str | None:
    """Why `value` is not a valid name (None when it is)."""
    if not value:
        return "must not be empty"
    if len(value) > rule.max_length:
        return f"is {len(value)} characters long, the limit is {rule.max_length}"
    for c in value:
        if c in _CONTROL_NAMES or unicodedata.category(c) == "Cc":
            return f"contains {_CONTROL_NAMES.get(c, 'a control character (' + _char(c) + ')')}"
        if c in "/\\":
            return f"contains a path separator {c!r}"
    if not value.isascii():
        folded = unicodedata.normalize("NFKC", value)
        if folded != value and folded.isascii():
            return (f"contains fullwidth or compatibility characters (its ASCII form would be {folded!r}); "
                    "names are not rewritten: send the ASCII form")
        c = next(ch for ch in value if not ch.isascii())
        if unicodedata.category(c) == "Cf":
            return f"contains an invisible formatting character ({_char(c)})"
        return f"contains a non-ASCII character ({_char(c)}); look-alikes of ASCII letters are not allowed"
    if set(value) == {"."}:
        return "must not consist of dots only"
    if len(value) < rule.min_length:
        return f"is shorter than {rule.min_length} characters"
    if not (value[0].isalnum() and value[-1].isalnum()):
        return "must start and end with a letter or digit"
    if rule.lowercase and value.lower() != value:
        return "must be lowercase"
    if not rule.pattern.fullmatch(value):
        return "contains characters that are not allowed"
    return None


def check_name(value: str, kind: NameKind) -> str:
    """`value` unchanged when it is a valid `kind` name; else InvalidName saying why and what is allowed."""
    if not isinstance(value, str):
        raise InvalidName(f"must be a string; use {kind.value.allowed}")
    problem = _problem(value, kind.value)
    if problem:
        raise InvalidName(f"{problem}; use {kind.value.allowed}")
    return value


_VERSION = re.compile(r"v[1-9][0-9]{0,8}")


def parse_adapter_ref(ref: str) -> tuple[str, int | None]:
    """`name` -> (name, None); `name@v3` -> (name, 3), the name checked as an ADAPTER name. Raises InvalidName."""
    if not isinstance(ref, str):
        raise InvalidName("must be a string: 'name' or 'name@vN'")
    name, at, version = ref.partition("@")
    try:
        check_name(name, NameKind.ADAPTER)
    except InvalidName as e:
        raise InvalidName(f"adapter name {e}; a reference is 'name' or 'name@vN'") from None
    if at and not _VERSION.fullmatch(version):
        raise InvalidName("the version must be 'v' and a number from 1 ('name@v3')")
    return name, int(version[1:]) if at else None
