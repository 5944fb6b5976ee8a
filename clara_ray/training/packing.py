"""Packing encoded records into fixed-length training blocks that keep records apart (padding-free packing).

Each block row carries three arrays of shape (block_size,): token ids, a loss mask, and position ids that
restart at 0 for every record. transformers reads restarting position ids (with no attention mask and no
KV cache) as packed sequences and gives each record its own causal attention, as TRL's padding-free
packing does; the mask keeps the first token of a record (nothing to predict it from), prompt tokens
(completion-only loss) and padding out of the loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clara_ray.model.chat_format import Encoded


@dataclass
class Blocks:
    """Packed training data: ids int32, loss bool, pos int32, each (n_blocks, block_size)."""

    ids: np.ndarray
    loss: np.ndarray
    pos: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def block_size(self) -> int:
        return self.ids.shape[1]

    def take(self, index) -> "Blocks":
        return Blocks(self.ids[index], self.loss[index], self.pos[index])

    def shard(self, rank: int, world: int) -> "Blocks":
        """Equal shards for DDP ranks (rows repeated if there are fewer than `world`), so every rank steps alike."""
        usable = max(world, len(self) // world * world)
        rows = np.resize(np.arange(len(self)), usable)[rank::world]
        return self.take(rows)

    @property
    def target_tokens(self) -> int:
        return int(self.loss.sum())


def pack(records: list[Encoded], block_size: int, pad_id: int) -> Blocks:
    """Concatenate records (positions restart per record) and cut every `block_size` tokens.

    A record longer than a block continues in the next one with its positions running on, so it stays one
    sequence. The last partial block is right-padded (padding is its own segment and carries no loss).
    """
    ids: list[int] = []
    loss: list[bool] = []
    pos: list[int] = []
    for r in records:
        ids += r.ids
        loss += [False] + list(r.loss[1:])  # the first token of a record has no context inside it
        pos += range(len(r.ids))
    pad = -len(ids) % block_size
    ids += [pad_id] * pad
    loss += [False] * pad
    pos += range(pad)
    shape = (-1, block_size)
    return Blocks(np.asarray(ids, dtype=np.int32).reshape(shape), np.asarray(loss, dtype=bool).reshape(shape),
                  np.asarray(pos, dtype=np.int32).reshape(shape))
