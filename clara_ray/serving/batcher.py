"""Running decode batch for continuous batching: left-padded KV cache that rows join and leave between steps."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

_HEADROOM = 32  # extra cache positions allocated so most decode steps write in place
_CPU = torch.device("cpu")


class BufferedLayer(DynamicLayer):
    """DynamicLayer over a preallocated [B, H, capacity, D] buffer: a decode step writes in place instead of
    re-concatenating the whole cache (DynamicLayer.update copies it every step)."""

    def __init__(self, k: torch.Tensor, v: torch.Tensor, length: int):
        super().__init__()
        self.kb, self.vb, self.n = k, v, length  # kb/vb: [B, H, capacity, D]
        self.dtype, self.device, self.is_initialized = k.dtype, k.device, True
        self.keys, self.values = k[:, :, :length], v[:, :, :length]

    def update(self, key_states, value_states, *args, **kwargs):
        t = key_states.shape[-2]
        if self.n + t > self.kb.shape[-2]:
            cap = max(self.n + t, self.kb.shape[-2] * 3 // 2) + _HEADROOM
            kb = self.kb.new_empty(*self.kb.shape[:2], cap, self.kb.shape[-1])
            vb = self.vb.new_empty(*self.vb.shape[:2], cap, self.vb.shape[-1])
            kb[:, :, : self.n] = self.kb[:, :, : self.n]
            vb[:, :, : self.n] = self.vb[:, :, : self.n]
            self.kb, self.vb = kb, vb
        self.kb[:, :, self.n : self.n + t] = key_states
        self.vb[:, :, self.n : self.n + t] = value_states
        self.n += t
        self.keys, self.values = self.kb[:, :, : self.n], self.vb[:, :, : self.n]
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.n


def additive_mask(allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Bool "may attend" -> additive float mask (0 / dtype min) on `allowed`'s device. Fully masked rows (pad
    queries) stay finite."""
    return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill_(~allowed, torch.finfo(dtype).min)


def prefill_inputs(prompts: Sequence[Sequence[int]], pad_id: int, dtype: torch.dtype, device: torch.device = _CPU):
    """Left-padded prefill tensors on `device`: ids [n, P], pad mask [n, P] (bool), position ids [n, P], 4-D mask
    [n, 1, P, P]. Ids and pad mask are built on the CPU and copied over once (one transfer each, not one per row);
    the rest is computed on `device`."""
    n, p = len(prompts), max(len(x) for x in prompts)
    ids = torch.full((n, p), pad_id, dtype=torch.long)
    mask = torch.zeros((n, p), dtype=torch.bool)
    for i, x in enumerate(prompts):
        ids[i, p - len(x) :] = torch.tensor(x, dtype=torch.long)
        mask[i, p - len(x) :] = True
    ids, mask = ids.to(device), mask.to(device)  # no-ops on the CPU
    pos = (mask.long().cumsum(1) - 1).clamp_(min=0)
    causal = torch.ones(p, p, dtype=torch.bool, device=device).tril_()
    attn = additive_mask((causal[None] & mask[:, None, :])[:, None], dtype)
    return ids, mask, pos, attn


def prefill_groups(lengths: Sequence[int], overhead_tokens: float) -> list[list[int]]:
    """Split rows into prefill forwards to limit padding waste: indices grouped by similar prompt length.

    Minimises sum over groups of (overhead_tokens + rows * longest prompt), where `overhead_tokens` is the
    fixed cost of one forward expressed in token-rows (large for tiny models: one group; small for big ones).
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    n = len(order)
    best = [0.0] + [float("inf")] * n  # best[j]: cost of the j shortest rows
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        longest = lengths[order[j - 1]]
        for i in range(j):  # group = sorted rows i..j-1
            c = best[i] + overhead_tokens + (j - i) * longest
            if c < best[j]:
                best[j], cut[j] = c, i
    groups, j = [], n
    while j > 0:
        groups.append(order[cut[j] : j])
        j = cut[j]
    return groups[::-1]


class DecodeBatch:
    """Rows decoding together. Row i: KV cache row i (left-padded, `mask[i]` marks real positions),
    next position id `pos[i]`, and `last[i]`, the sampled token not yet fed to the model.
    Every tensor lives on `device` (the model's)."""

    def __init__(self, num_layers: int, device: torch.device = _CPU):
        self.num_layers = num_layers
        self.device = device
        self.rows: list = []
        self.layers: list[BufferedLayer] = []
        self.mask = torch.zeros((0, 0), dtype=torch.bool, device=device)  # [B, T]
        self.pos = torch.zeros(0, dtype=torch.long, device=device)  # [B]
        self.last = torch.zeros(0, dtype=torch.long, device=device)  # [B]
        self.lora = None  # gathered LoRA operands for this composition (multi_lora.BatchLora)

    def __len__(self) -> int:
        return len(self.rows)

    def _kv(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [(layer.keys, layer.values) for layer in self.layers]

    def _rebuild(self, kv: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        self.layers = []
        for k, v in kv:  # k, v: [B, H, T, D]
            b, h, t, d = k.shape
            kb = k.new_empty(b, h, t + _HEADROOM, d)
            vb = v.new_empty(b, h, t + _HEADROOM, d)
            kb[:, :, :t] = k
            vb[:, :, :t] = v
            self.layers.append(BufferedLayer(kb, vb, t))

    def cache(self) -> DynamicCache:
        cache = DynamicCache()
        cache.layers = list(self.layers)
        return cache

    def add(self, rows: list, cache: DynamicCache, mask: torch.Tensor, pos: torch.Tensor, last: torch.Tensor) -> None:
        """Append prefilled rows; `cache`/`mask` [n, P] come from their prefill, `rows` are their indices in it
        (pairs of (index, row)). Left-pads whichever side is shorter."""
        idx = torch.tensor([i for i, _ in rows], dtype=torch.long, device=self.device)
        rows = [r for _, r in rows]
        mask = mask.index_select(0, idx)
        start = int(mask.any(0).long().argmax())
        mask, pos, last = mask[:, start:], pos.index_select(0, idx), last.index_select(0, idx)
        kv_new = [
            (layer.keys[:, :, start:].index_select(0, idx), layer.values[:, :, start:].index_select(0, idx))
            for layer in cache.layers
        ]
        if not self.rows:
            self._rebuild(kv_new)
            self.mask, self.pos, self.last, self.rows = mask, pos, last, rows
            self.lora = None
            return
        ta, tn = self.mask.shape[1], mask.shape[1]
        t = max(ta, tn)
        kv = []
        for (ka, va), (kn, vn) in zip(self._kv(), kv_new):
            ba, bn = ka.shape[0], kn.shape[0]
            k = ka.new_zeros(ba + bn, ka.shape[1], t, ka.shape[3])
            v = va.new_zeros(ba + bn, va.shape[1], t, va.shape[3])
            k[:ba, :, t - ta :], k[ba:, :, t - tn :] = ka, kn
            v[:ba, :, t - ta :], v[ba:, :, t - tn :] = va, vn
            kv.append((k, v))
        m = torch.zeros((len(self.rows) + len(rows), t), dtype=torch.bool, device=self.device)
        m[: len(self.rows), t - ta :], m[len(self.rows) :, t - tn :] = self.mask, mask
        self._rebuild(kv)
        self.mask = m
        self.pos = torch.cat([self.pos, pos])
        self.last = torch.cat([self.last, last])
        self.rows = self.rows + rows
        self.lora = None

    def keep(self, keep: list[int]) -> None:
        """Keep only rows `keep` (in order); drops cache columns that became padding for every kept row."""
        if len(keep) == len(self.rows):
            return
        if not keep:
            self.__init__(self.num_layers, self.device)
            return
        idx = torch.tensor(keep, dtype=torch.long, device=self.device)
        mask = self.mask.index_select(0, idx)
        start = int(mask.any(0).long().argmax())  # first column some kept row attends to
        self._rebuild(
            [(k[:, :, start:].index_select(0, idx), v[:, :, start:].index_select(0, idx)) for k, v in self._kv()]
        )
        self.mask = mask[:, start:]
        self.pos, self.last = self.pos.index_select(0, idx), self.last.index_select(0, idx)
        self.rows = [self.rows[i] for i in keep]
        self.lora = None

    def decode_inputs(self, dtype: torch.dtype):
        """Inputs of one decode step; appends the new token's column to the pad mask."""
        self.mask = torch.cat([self.mask, self.mask.new_ones((len(self.rows), 1))], dim=1)
        attn = additive_mask(self.mask[:, None, None, :], dtype)  # [B, 1, 1, T+1]
        return self.last[:, None], attn, self.pos[:, None]
