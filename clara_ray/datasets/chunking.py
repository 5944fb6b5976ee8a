"""Split a document into search chunks: paragraphs packed up to a character budget, long paragraphs cut with overlap."""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _split_long(par: str, size: int, overlap: int) -> list[str]:
    # Cut at sentence ends where possible; a sentence longer than `size` is cut hard.
    pieces, cur = [], ""
    for sent in _SENTENCE_END.split(par):
        while len(sent) > size:
            pieces.append((cur + " " + sent[:size]).strip() if cur else sent[:size])
            cur, sent = "", sent[max(size - overlap, 1):]
        if cur and len(cur) + 1 + len(sent) > size:
            pieces.append(cur)
            cur = cur[-overlap:].lstrip() + " " + sent if overlap else sent
        else:
            cur = f"{cur} {sent}".strip()
    if cur:
        pieces.append(cur)
    return pieces


def chunk_text(text: str, size: int = 600, overlap: int = 80) -> list[str]:
    """Chunks of at most ~`size` characters, paragraph boundaries kept whenever a paragraph fits."""
    paras = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    chunks, cur = [], ""
    for p in paras:
        for piece in ([p] if len(p) <= size else _split_long(p, size, overlap)):
            if cur and len(cur) + 2 + len(piece) > size:
                chunks.append(cur)
                cur = piece
            else:
                cur = f"{cur}\n\n{piece}" if cur else piece
    if cur:
        # A short tail (often boilerplate such as a costs sentence) joins the previous chunk: tiny chunks embed
        # close to the corpus centre and would match every query.
        if chunks and len(cur) < size // 3:
            chunks[-1] = f"{chunks[-1]}\n\n{cur}"
        else:
            chunks.append(cur)
    return chunks or [text.strip()]
