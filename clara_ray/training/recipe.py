"""Recipe defaults per base model: the bundled tiny model keeps its own, real models get values that fit them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Recipe:
    learning_rate: float
    """Peak learning rate of LORA/QLORA jobs."""
    block_size: int
    """Tokens per packed training block."""
    max_seq_length: int
    """Longest training record in tokens."""


# A random-init 262k-parameter model needs a high rate to move at all; its records are short.
TINY = Recipe(learning_rate=2e-3, block_size=128, max_seq_length=512)
# The common LoRA starting point for 0.5B-70B decoder models (QLoRA paper, axolotl and LLaMA-Factory examples).
REAL_LEARNING_RATE = 2e-4
REAL_MAX_LENGTH = 2048


def is_tiny(base: str) -> bool:
    """The configured name "tiny" or a folder built by training/base_model.py (it writes clara_model.json)."""
    return base == "tiny" or (Path(base) / "clara_model.json").is_file()


def context_length(base: str) -> int | None:
    """`max_position_embeddings` (or n_positions) from a local model folder's config.json."""
    cfg = Path(base).expanduser() / "config.json"
    if not cfg.is_file():
        return None
    data = json.loads(cfg.read_text())
    value = data.get("max_position_embeddings") or data.get("n_positions")
    return int(value) if value else None


def default_recipe(base: str) -> Recipe:
    """What a job gets for the fields neither it nor the config sets, for base `base` (name, folder or hub id)."""
    if is_tiny(base):
        return TINY
    length = min(context_length(base) or REAL_MAX_LENGTH, REAL_MAX_LENGTH)
    return Recipe(learning_rate=REAL_LEARNING_RATE, block_size=length, max_seq_length=length)
