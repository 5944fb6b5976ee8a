"""Bundled resources: the domain corpus (Q&A per domain, search documents, off-domain samples)."""

from __future__ import annotations

import json
from pathlib import Path

CORPUS_DIR = Path(__file__).parent / "corpus"


def qa_path() -> Path:
    """German administrative-law Q&A, `{"prompt","response","domain"}` per line, 5 domains."""
    return CORPUS_DIR / "qa.jsonl"


def documents_path() -> Path:
    """Search corpus: documents with title, text, document_type, domain, date, source, quality_score."""
    return CORPUS_DIR / "documents.jsonl"


def offdomain_path() -> Path:
    """Off-domain and poisoned samples (recipes, sports, noise, spam) for gate tests and the demo."""
    return CORPUS_DIR / "offdomain.jsonl"


def load_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def corpus_text() -> str:
    """All Q&A and document text, the tokenizer's training data."""
    parts = [r["prompt"] + "\n" + r["response"] for r in load_jsonl(qa_path())]
    if documents_path().exists():
        parts += [d["title"] + "\n" + d["text"] for d in load_jsonl(documents_path())]
    return "\n\n".join(parts)
