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
    continuous_learning_rate: float = 1e-4
    """Peak learning rate of CONTINUOUS jobs (a learning cycle's small step on top of an existing LoRA adapter)."""
    continuous_epochs: int = 1
    """Epochs of CONTINUOUS jobs."""


# A random-init 262k-parameter model needs a high rate to move at all; its records are short. A learning cycle
# (40-200 feedback samples) keeps the initial rate and takes three passes: on the demo's 40 held-back records that
# is -1.5 % validation perplexity, +1.1 % regression drift, KL 0.012 (bench/bench_cycle_defaults.py), clear of the
# shipped gate; two passes gain only 1.1 %, at the edge of `learning.min_improvement`.
TINY = Recipe(learning_rate=2e-3, block_size=128, max_seq_length=512, continuous_learning_rate=2e-3,
              continuous_epochs=3)
# The common LoRA starting point for 0.5B-70B decoder models (QLoRA paper, axolotl and LLaMA-Factory examples).
REAL_LEARNING_RATE = 2e-4
REAL_MAX_LENGTH = 2048
# Learning cycles continue an adapter on a small batch: half the initial LoRA rate on small models, less on large
# ones (larger models move further per step at the same rate). (upper bound in parameters, rate); the full
# fine-tuning figure 5e-6 barely moves a LoRA adapter (issue 15: three cycles of good feedback under 0.05 %).
CONTINUOUS_LR_BY_SIZE = ((3e9, 1e-4), (20e9, 5e-5), (float("inf"), 3e-5))


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


def parameter_count(base: str) -> float | None:
    """Approximate parameters of a local decoder folder from its config.json (embeddings + attention + MLP per
    layer); None when the folder or the fields are missing (a hub id)."""
    cfg = Path(base).expanduser() / "config.json"
    if not cfg.is_file():
        return None
    data = json.loads(cfg.read_text())
    hidden, layers = data.get("hidden_size") or data.get("n_embd"), data.get("num_hidden_layers") or data.get("n_layer")
    if not hidden or not layers:
        return None
    mlp = data.get("intermediate_size") or 4 * hidden
    vocab = data.get("vocab_size") or 32000
    return float(layers * (4 * hidden * hidden + 3 * hidden * mlp) + 2 * vocab * hidden)


def continuous_learning_rate(base: str) -> float:
    """The CONTINUOUS (learning cycle) LoRA rate for a real base by its size; the smallest band when unknown."""
    params = parameter_count(base) or 0.0
    return next(lr for limit, lr in CONTINUOUS_LR_BY_SIZE if params < limit)


def default_recipe(base: str) -> Recipe:
    """What a job gets for the fields neither it nor the config sets, for base `base` (name, folder or hub id)."""
    if is_tiny(base):
        return TINY
    length = min(context_length(base) or REAL_MAX_LENGTH, REAL_MAX_LENGTH)
    return Recipe(learning_rate=REAL_LEARNING_RATE, block_size=length, max_seq_length=length,
                  continuous_learning_rate=continuous_learning_rate(base), continuous_epochs=1)
