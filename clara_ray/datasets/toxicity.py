"""Toxicity scoring: a built-in German/English word-pattern filter, pluggable for a classifier.

A scorer is any object with `score(texts: list[str]) -> list[tuple[float, list[str]]]` (score in [0, 1]
and the matched terms). Configure `datasets.toxicity_scorer` as "wordlist" or "package.module:factory",
where factory() returns a scorer (e.g. wrapping a local transformers classifier).
"""

from __future__ import annotations

import importlib
import re
from typing import Protocol


class ToxicityScorer(Protocol):
    def score(self, texts: list[str]) -> list[tuple[float, list[str]]]: ...


# Insults, slurs-free profanity, threats and harassment phrases (stems; matched case-insensitively at word starts).
DEFAULT_PATTERNS = [
    r"arschloch", r"wichser", r"hurensohn", r"missgeburt", r"fotze", r"drecksau", r"dreckssau", r"scheißkerl",
    r"scheiss ?kerl", r"vollidiot", r"idiot(en)?\b", r"volltrottel", r"spast(i)?\b", r"halt (die|deine) fresse",
    r"verpiss dich", r"fick (dich|euch)", r"ich (bring|bringe) (dich|euch) um", r"du bist (so )?(dumm|hässlich|wertlos)",
    r"abschaum", r"ungeziefer", r"stirb\b", r"krepier",
    r"fuck(ing)?\b", r"shit\b", r"bitch", r"asshole", r"bastard", r"moron", r"retard", r"kill yourself", r"i will kill you",
    r"go to hell",
]


class WordListScorer:
    """Score = 1 - 0.5^(number of distinct matches): one match scores 0.5, two 0.75, ..."""

    def __init__(self, patterns: list[str] | None = None):
        self.patterns = [(p, re.compile(r"(?<!\w)" + p, re.IGNORECASE)) for p in (patterns or DEFAULT_PATTERNS)]

    def score(self, texts: list[str]) -> list[tuple[float, list[str]]]:
        out = []
        for t in texts:
            hits = [m.group(0).lower() for _, rx in self.patterns if (m := rx.search(t))]
            out.append((round(1 - 0.5 ** len(hits), 4), hits))
        return out


def load_scorer(spec: str) -> ToxicityScorer:
    """"wordlist" or "module:factory"."""
    if spec == "wordlist":
        return WordListScorer()
    module, _, attr = spec.partition(":")
    if not attr:
        raise ValueError(f"toxicity_scorer {spec!r}: use 'wordlist' or 'package.module:factory'")
    return getattr(importlib.import_module(module), attr)()
