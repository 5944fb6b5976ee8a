"""Incremental detokenisation (UTF-8 safe) and stop-string handling for streamed generation."""

from __future__ import annotations

from collections.abc import Callable, Sequence

Decode = Callable[[list[int]], str]

# Prompt tokens kept as left context, so decoders that drop a leading space on a fresh decode
# (SentencePiece "▁") still produce the right first delta.
_CONTEXT_TOKENS = 4


def make_decode(tokenizer) -> Decode:
    """Fast decode(ids) -> str skipping special tokens (the Rust backend when available)."""
    backend = getattr(tokenizer, "backend_tokenizer", None) or getattr(tokenizer, "_tokenizer", None)
    if backend is not None and hasattr(backend, "decode"):
        return lambda ids: backend.decode(ids, skip_special_tokens=True)
    return lambda ids: tokenizer.decode(ids, skip_special_tokens=True)


class IncrementalDetokenizer:
    """Turns a token stream into text deltas; holds back text while it ends in an incomplete UTF-8 sequence.

    Same scheme as TGI/vLLM: decode a small window [prefix_offset:] and emit only what extends the
    already-emitted window [prefix_offset:read_offset], unless it ends with U+FFFD (a partial character).
    """

    def __init__(self, decode: Decode, prompt_ids: Sequence[int]):
        self._decode = decode
        self._ids = list(prompt_ids[-_CONTEXT_TOKENS:])
        self._prefix = 0
        self._read = len(self._ids)
        self._prefix_text = decode(self._ids) if self._ids else ""

    def push(self, token_id: int) -> str:
        self._ids.append(token_id)
        new_text = self._decode(self._ids[self._prefix :])
        if len(new_text) <= len(self._prefix_text) or new_text.endswith("\ufffd"):
            return ""
        delta = new_text[len(self._prefix_text) :]
        self._prefix, self._read = self._read, len(self._ids)
        self._prefix_text = self._decode(self._ids[self._prefix : self._read])
        return delta

    def flush(self) -> str:
        """Whatever is still held back (e.g. a truncated multi-byte character at the end)."""
        new_text = self._decode(self._ids[self._prefix :])
        delta = new_text[len(self._prefix_text) :] if len(new_text) > len(self._prefix_text) else ""
        self._prefix = self._read = len(self._ids)
        self._prefix_text = ""
        return delta


class StopChecker:
    """Finds stop strings in the accumulated text and says how much of it is safe to emit."""

    def __init__(self, stops: Sequence[str] | None):
        self.stops = [s for s in (stops or []) if s]
        self._max = max((len(s) for s in self.stops), default=0)

    def find(self, text: str, new_from: int) -> int:
        """Index of the earliest stop string that ends at or after `new_from`, else -1."""
        best = -1
        for s in self.stops:
            i = text.find(s, max(0, new_from - len(s) + 1))
            if i != -1 and (best == -1 or i < best):
                best = i
        return best

    def safe_len(self, text: str) -> int:
        """Length of `text` that cannot turn into the start of a stop string with more tokens."""
        if not self.stops:
            return len(text)
        hold = 0
        for s in self.stops:
            for k in range(min(len(s) - 1, len(text)), hold, -1):
                if text.endswith(s[:k]):
                    hold = k
                    break
        return len(text) - hold
