"""Batched multi-LoRA linear layers (Punica/S-LoRA "BGMV" style): per-slot stacked A/B gathered per batch row."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .adapters import LoraWeights


class MultiLoraLinear(nn.Module):
    """Wraps an nn.Linear; adds `x @ A[slot] @ B[slot]` per batch row, for the slots set by `LoraBank.activate`.

    Slot 0 is never written, so it stays zero: base-model rows use it.
    Rank handling: all slots share one rank capacity R (zero-padded; zero columns of A / rows of B add nothing),
    and each batch only uses the first r <= R columns, r = max rank among the adapters in that batch.
    """

    def __init__(self, base: nn.Linear, num_slots: int, rank: int):
        super().__init__()
        self.base = base
        self.in_features, self.out_features = base.in_features, base.out_features
        w = base.weight
        self.lora_A = torch.zeros(num_slots, self.in_features, rank, dtype=w.dtype, device=w.device)  # [S, in, R]
        self.lora_B = torch.zeros(num_slots, rank, self.out_features, dtype=w.dtype, device=w.device)  # [S, R, out]
        self.slot_rank = [0] * num_slots  # 0: slot adds nothing to this module
        # Current batch: None (no LoRA), 2-D a [in, r] / b [r, out] (one adapter for all rows),
        # or 3-D a [B, in, r] / b [B, r, out] (gathered per row).
        self.a: torch.Tensor | None = None
        self.b: torch.Tensor | None = None

    @property
    def weight(self) -> torch.Tensor:  # some model code peeks at `proj.weight` (dtype/device)
        return self.base.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        base = self.base
        y = F.linear(x, base.weight, base.bias)  # [B, T, out]; skips a second nn.Module call
        a = self.a
        if a is None:
            return y
        if a.dim() == 2:
            return y.add_((x @ a) @ self.b)
        return y.baddbmm_(torch.bmm(x, a), self.b)  # [B,T,in]@[B,in,r] -> [B,T,r]; @[B,r,out]

    def grow(self, rank: int) -> None:
        s, r_old = self.lora_A.shape[0], self.lora_A.shape[2]
        a = self.lora_A.new_zeros(s, self.in_features, rank)
        b = self.lora_B.new_zeros(s, rank, self.out_features)
        a[:, :, :r_old] = self.lora_A
        b[:, :r_old, :] = self.lora_B
        self.lora_A, self.lora_B = a, b

    def write(self, slot: int, a_t: torch.Tensor | None, b_t: torch.Tensor | None) -> None:
        self.lora_A[slot].zero_()
        self.lora_B[slot].zero_()
        if a_t is None:
            self.slot_rank[slot] = 0
            return
        r = a_t.shape[1]
        self.lora_A[slot, :, :r] = a_t
        self.lora_B[slot, :r, :] = b_t
        self.slot_rank[slot] = r


@dataclass
class BatchLora:
    """Per-module gathered LoRA operands for one batch composition."""

    entries: list[tuple[MultiLoraLinear, torch.Tensor | None, torch.Tensor | None]]
    version: int


class LoraBank:
    """Owns the MultiLoraLinear wrappers of one model: slot writes, rank growth, per-batch gathers.

    Not thread-safe by itself: the engine calls it under its lock.
    """

    def __init__(self, model: nn.Module, num_slots: int, max_rank: int):
        self.model = model
        self.num_slots = num_slots
        self.max_rank = max_rank
        out_emb = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
        self.candidates: dict[str, nn.Linear] = {
            n: m for n, m in model.named_modules() if isinstance(m, nn.Linear) and m is not out_emb
        }
        self.wrapped: dict[str, MultiLoraLinear] = {}
        self.capacity = 0  # shared rank capacity R of the slot tensors
        self.version = 0  # bumped on every change that invalidates gathered BatchLora objects

    def shapes(self) -> dict[str, tuple[int, int]]:
        return {n: (m.in_features, m.out_features) for n, m in self.candidates.items()}

    def _wrap(self, name: str) -> MultiLoraLinear:
        parent_name, _, child = name.rpartition(".")
        parent = self.model.get_submodule(parent_name) if parent_name else self.model
        mod = MultiLoraLinear(self.candidates[name], self.num_slots, self.capacity)
        setattr(parent, child, mod)
        self.wrapped[name] = mod
        return mod

    def write(self, slot: int, weights: LoraWeights) -> None:
        """Copy an adapter into `slot` (1..num_slots-1) of every wrapped module (zeros where it has no weights)."""
        assert 0 < slot < self.num_slots
        need = min(self.max_rank, -(-weights.rank // 8) * 8)  # round up to 8 to limit re-allocations
        if need > self.capacity:
            self.capacity = need
            for mod in self.wrapped.values():
                mod.grow(need)
        for name in weights.modules:
            if name not in self.wrapped:
                self._wrap(name)
        for name, mod in self.wrapped.items():
            ab = weights.modules.get(name)
            mod.write(slot, *(ab if ab is not None else (None, None)))
        self.version += 1

    def clear(self, slot: int) -> None:
        for mod in self.wrapped.values():
            mod.write(slot, None, None)
        self.version += 1

    def gather(self, slots: list[int]) -> BatchLora:
        """Per-module operands for a batch whose row i uses slot `slots[i]` (0 = no adapter)."""
        uniq = set(slots)
        idx = None
        entries = []
        for mod in self.wrapped.values():
            r = max(mod.slot_rank[s] for s in uniq)
            if r == 0:
                entries.append((mod, None, None))
            elif len(uniq) == 1:  # one adapter for all rows: plain GEMMs on views, no copy
                s = slots[0]
                entries.append((mod, mod.lora_A[s, :, :r], mod.lora_B[s, :r, :]))
            else:
                if idx is None:
                    idx = torch.tensor(slots, dtype=torch.long, device=mod.lora_A.device)
                entries.append(
                    (mod, mod.lora_A[:, :, :r].index_select(0, idx), mod.lora_B[:, :r, :].index_select(0, idx))
                )
        return BatchLora(entries, self.version)

    def activate(self, batch: BatchLora | None) -> None:
        """Point every wrapped module at `batch`'s operands (None: base model only)."""
        if batch is None:
            for mod in self.wrapped.values():
                mod.a = mod.b = None
            return
        for mod, a, b in batch.entries:
            mod.a, mod.b = a, b
        # Modules wrapped after the gather have no operands for this batch.
        if len(batch.entries) != len(self.wrapped):
            seen = {id(m) for m, _, _ in batch.entries}
            for mod in self.wrapped.values():
                if id(mod) not in seen:
                    mod.a = mod.b = None

    def nbytes(self) -> int:
        return sum(m.lora_A.nbytes + m.lora_B.nbytes for m in self.wrapped.values())
