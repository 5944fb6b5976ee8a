"""Loading a base model's tokenizer the same way in training, evaluation and serving."""

from __future__ import annotations

import functools
from pathlib import Path

from clara_ray.model.chat_format import apply_template_setting


@functools.lru_cache(maxsize=8)
def load_tokenizer(path: str | Path, chat_template: str | None = None):
    """The tokenizer with the chat template in force (`model.chat_template`, its own, or the default).

    A tokenizer without a pad token gets EOS as pad (Llama 3, Mistral): only the batcher pads, and the loss
    excludes padding by an explicit mask, so the shared id never hides EOS from training. Cached: callers
    must not modify the returned tokenizer.
    """
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    apply_template_setting(tok, chat_template)
    return tok
