"""Split a document into search chunks sized in tokens of the embedding model's tokenizer (paragraphs kept when they fit)."""

from __future__ import annotations

import functools
import re
from typing import Protocol

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_PARAGRAPHS = re.compile(r"\n\s*\n")


class TokenCounter(Protocol):
    """What chunking needs from a tokenizer: token counts and the character span of every token."""

    def count(self, text: str) -> int: ...

    def spans(self, text: str) -> list[tuple[int, int]]: ...


class ModelTokens:
    """TokenCounter over a Hugging Face fast tokenizer (the one inside the sentence-transformers model folder)."""

    def __init__(self, tokenizer):
        self.tok = tokenizer
        # [CLS] and [SEP] for BERT, <s> and </s> for XLM-R: they take window positions but hold no text.
        self.special = tokenizer.num_special_tokens_to_add(pair=False)

    def count(self, text: str) -> int:
        return len(self.tok(text, add_special_tokens=False)["input_ids"])

    def spans(self, text: str) -> list[tuple[int, int]]:
        return [tuple(o) for o in self.tok(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]]

    def text_window(self, max_seq_length: int) -> int:
        """Tokens of text the model embeds when it truncates at `max_seq_length` (special tokens included there)."""
        return max_seq_length - self.special


@functools.lru_cache(maxsize=4)
def model_tokens(model: str) -> ModelTokens:
    """The embedding model's tokenizer (loaded once per process: Ray Data tasks reuse it), without the model."""
    from transformers import AutoTokenizer

    from clara_ray.datasets.embedding_model import model_path

    return ModelTokens(AutoTokenizer.from_pretrained(model_path(model)))


def _word_starts(text: str, spans: list[tuple[int, int]]) -> list[bool]:
    # A token continuing a word ("##ung") directly follows a letter or digit: never cut before it.
    return [i == 0 or s == 0 or not (text[s - 1].isalnum() and spans[i - 1][1] == s) for i, (s, _) in enumerate(spans)]


def _hard_cut(text: str, tok: TokenCounter, size: int, overlap: int) -> list[str]:
    """A sentence longer than `size` tokens: windows of at most `size` tokens, cut at word starts, `overlap` repeated."""
    spans = tok.spans(text)
    starts = _word_starts(text, spans)
    out, i, n = [], 0, len(spans)
    while i < n:
        end = min(i + size, n)
        if end < n:  # back off to a word start unless the word alone is longer than the window
            back = next((j for j in range(end, i, -1) if starts[j]), end)
            end = back
        out.append(text[spans[i][0]:spans[end - 1][1]].strip())
        if end >= n:
            break
        nxt = max(end - overlap, i + 1)
        while nxt < end and not starts[nxt]:
            nxt += 1
        i = nxt
    return [p for p in out if p]


def _tail(text: str, tok: TokenCounter, overlap: int) -> str:
    """The last `overlap` tokens of `text`, starting at a word start ("" when overlap is 0)."""
    if overlap <= 0:
        return ""
    spans = tok.spans(text)
    if len(spans) <= overlap:
        return text
    starts = _word_starts(text, spans)
    i = next((j for j in range(len(spans) - overlap, len(spans)) if starts[j]), len(spans))
    return text[spans[i][0]:].strip() if i < len(spans) else ""


class _Counts:
    """Token counts of joined strings: exactly (tokenise the joined string), or estimated as the parts' counts plus
    what the separator adds, measured once. The estimate is exact for tokenizers that split on whitespace first
    (WordPiece, most BPE); chunk_text checks every chunk it produced that way and redoes the document exactly
    when one is over."""

    def __init__(self, tok: TokenCounter, exact: bool):
        self.tok, self.exact = tok, exact

    def join(self, a: str, na: int, sep: str, b: str, nb: int) -> int:
        if self.exact:
            return self.tok.count(f"{a}{sep}{b}")
        return na + _separator_tokens(self.tok, sep) + nb


@functools.lru_cache(maxsize=64)
def _separator_tokens(tok: TokenCounter, sep: str) -> int:
    """Tokens a separator adds between two words (0 for WordPiece, 1 for "\\n\\n" in byte-level BPE)."""
    return max(0, tok.count(f"Wort{sep}Wort") - 2 * tok.count("Wort"))


def _split_long(par: str, tok: TokenCounter, size: int, overlap: int, counts: _Counts) -> list[tuple[str, int]]:
    # Sentences packed up to `size` tokens; each new piece starts with the previous piece's last `overlap` tokens.
    pieces, cur, n_cur = [], "", 0
    for sent in _SENTENCE_END.split(par):
        n_sent = tok.count(sent)
        if n_sent > size:
            if cur:
                pieces.append((cur, n_cur))
            pieces.extend((p, tok.count(p)) for p in _hard_cut(sent, tok, size, overlap))
            cur, n_cur = "", 0
            continue
        n_joined = counts.join(cur, n_cur, " ", sent, n_sent) if cur else n_sent
        if n_joined <= size:
            cur, n_cur = (f"{cur} {sent}" if cur else sent), n_joined
            continue
        pieces.append((cur, n_cur))
        tail = _tail(cur, tok, overlap)
        n_tailed = counts.join(tail, tok.count(tail), " ", sent, n_sent) if tail else size + 1
        cur, n_cur = (f"{tail} {sent}", n_tailed) if n_tailed <= size else (sent, n_sent)
    if cur:
        pieces.append((cur, n_cur))
    return pieces


def chunk_text(text: str, tok: TokenCounter, size: int, overlap: int = 0) -> list[str]:
    """Chunks of at most `size` tokens (as `tok` counts them): paragraphs are packed whole whenever they fit, a longer
    paragraph is cut at sentence ends (a longer sentence at word starts) with `overlap` tokens repeated."""
    if size < 1:
        raise ValueError(f"chunk size must be at least 1 token, not {size}")
    overlap = min(max(overlap, 0), size // 2)  # an overlap near the size would make no progress
    # Estimated counts tokenise each paragraph and chunk about once instead of every growing join (ingest's
    # parse stage spent 85 % of its time re-tokenising); the check below keeps the size a guarantee.
    chunks = _chunks(text, tok, size, overlap, _Counts(tok, exact=False))
    if all(tok.count(c) <= size for c in chunks):
        return chunks
    return _chunks(text, tok, size, overlap, _Counts(tok, exact=True))


def _chunks(text: str, tok: TokenCounter, size: int, overlap: int, counts: _Counts) -> list[str]:
    paras = [p.strip() for p in _PARAGRAPHS.split(text) if p.strip()]
    chunks: list[tuple[str, int]] = []
    cur, n_cur = "", 0
    for p in paras:
        n_p = tok.count(p)
        for piece, n_piece in ([(p, n_p)] if n_p <= size else _split_long(p, tok, size, overlap, counts)):
            n_joined = counts.join(cur, n_cur, "\n\n", piece, n_piece) if cur else n_piece
            if cur and n_joined > size:
                chunks.append((cur, n_cur))
                cur, n_cur = piece, n_piece
            else:
                cur, n_cur = (f"{cur}\n\n{piece}" if cur else piece), n_joined
    if cur:
        # A short tail (often boilerplate such as a costs sentence) joins the previous chunk when it fits: tiny
        # chunks embed close to the corpus centre and would match every query.
        short = chunks and n_cur < size // 3
        n_joined = counts.join(chunks[-1][0], chunks[-1][1], "\n\n", cur, n_cur) if short else size + 1
        if n_joined <= size:
            chunks[-1] = (f"{chunks[-1][0]}\n\n{cur}", n_joined)
        else:
            chunks.append((cur, n_cur))
    return [c for c, _ in chunks] or [text.strip()]
