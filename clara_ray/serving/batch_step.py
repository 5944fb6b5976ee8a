"""Model work of the batched engine (its worker thread): prefill joiners, decode the running batch, pick each row's
token and record it. Every tensor built here lives on the model's device; tokens come back as Python ints."""

from __future__ import annotations

from collections.abc import Callable

import torch
from transformers import DynamicCache

from .batcher import DecodeBatch, prefill_groups, prefill_inputs
from .engine_row import Event, Row
from .multi_lora import LoraBank
from .sampling import penalise, penalise_output, sample, token_logprobs


class BatchStepper:
    """Runs one scheduling step at a time on the model: a prefill of the rows joining, else one decode step of
    the running batch (one forward for all rows, whatever adapter each uses). The caller holds the engine's model
    lock around `step` and `reset`."""

    def __init__(
        self,
        model: torch.nn.Module,
        bank: LoraBank,
        *,
        device: torch.device,
        dtype: torch.dtype,
        pad_id: int,
        eos_ids: frozenset[int],
        token_text: Callable[[int], str],
        forward_overhead_tokens: float,
    ):
        self.model, self.bank, self.device, self.dtype = model, bank, device, dtype
        self.pad_id, self.eos_ids, self.token_text = pad_id, eos_ids, token_text
        self.forward_overhead_tokens = forward_overhead_tokens
        self.num_layers = model.config.num_hidden_layers
        self.batch = DecodeBatch(self.num_layers, device)
        self.prefills = self.decodes = self.prefill_rows = self.decode_rows = 0

    def counters(self) -> dict:
        """Forward counts for the engine's stats."""
        forwards = self.prefills + self.decodes
        return {
            "batches_run": forwards,
            "prefill_batches": self.prefills,
            "decode_steps": self.decodes,
            "mean_batch_size": (self.prefill_rows + self.decode_rows) / forwards if forwards else 0.0,
            "mean_decode_batch_size": self.decode_rows / self.decodes if self.decodes else 0.0,
            "running_rows": len(self.batch),
        }

    def reset(self) -> None:
        """Drop the running batch (its rows are the caller's to finish)."""
        self.batch = DecodeBatch(self.num_layers, self.device)

    def step(self, joiners: list[Row]) -> list[Event]:
        events: list[Event] = []
        with torch.inference_mode():
            b = self.batch
            if any(r.cancelled for r in b.rows):
                events += [(r, "", True) for r in b.rows if r.cancelled]
                b.keep([i for i, r in enumerate(b.rows) if not r.cancelled])
            if joiners:
                self._prefill(joiners, events)
            elif b.rows:
                self._decode_step(events)
        return events

    def _forward(self, ids, attn, pos, cache) -> torch.Tensor:
        out = self.model(
            input_ids=ids,
            attention_mask=attn,  # 4-D additive mask: HF uses it as is
            position_ids=pos,
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        return out.logits[:, -1, :].float()  # [B, V]

    def _prefill(self, joiners: list[Row], events: list[Event]) -> None:
        lengths = [len(r.prompt_ids) for r in joiners]
        for group in prefill_groups(lengths, self.forward_overhead_tokens):
            self._prefill_group([joiners[i] for i in group], events)

    def _prefill_group(self, rows: list[Row], events: list[Event]) -> None:
        self.bank.activate(self.bank.gather([r.slot for r in rows]))
        ids, mask, pos, attn = prefill_inputs([r.prompt_ids for r in rows], self.pad_id, self.dtype, self.device)
        cache = DynamicCache()
        toks, last = self._next_tokens(self._forward(ids, attn, pos, cache), rows)
        self.prefills += 1
        self.prefill_rows += len(rows)
        alive = [(i, r) for i, (r, t) in enumerate(zip(rows, toks)) if not r.push(t, self.eos_ids, events)]
        if alive:
            next_pos = torch.tensor([len(r.prompt_ids) for r in rows], device=self.device)  # = prompt length
            self.batch.add(alive, cache, mask, next_pos, last)

    def _decode_step(self, events: list[Event]) -> None:
        b = self.batch
        if b.lora is None or b.lora.version != self.bank.version:
            b.lora = self.bank.gather([r.slot for r in b.rows])
        self.bank.activate(b.lora)
        ids, attn, pos = b.decode_inputs(self.dtype)
        toks, b.last = self._next_tokens(self._forward(ids, attn, pos, b.cache()), b.rows)
        self.decodes += 1
        self.decode_rows += len(b.rows)
        b.pos = b.pos + 1
        b.keep([i for i, (r, t) in enumerate(zip(b.rows, toks)) if not r.push(t, self.eos_ids, events)])

    def _next_tokens(self, logits: torch.Tensor, rows: list[Row]) -> tuple[list[int], torch.Tensor]:
        """Each row's token: as Python ints (one device-to-host copy per step) and as a [B] tensor on the device
        to feed the next step (the argmax itself unless some row sampled)."""
        for i, r in enumerate(rows):
            if r.rep_penalty != 1.0:
                penalise(logits[i], r.prompt_ids + r.token_ids, r.rep_penalty)
            if r.token_ids and (r.req.presence_penalty or r.req.frequency_penalty):
                penalise_output(logits[i], r.token_ids, r.req.presence_penalty, r.req.frequency_penalty)
        greedy = logits.argmax(-1)
        toks = greedy.tolist()
        sampled = False
        for i, r in enumerate(rows):
            if r.temperature > 0:
                toks[i], sampled = sample(logits[i], r.temperature, r.top_p, r.gen), True
            if r.req.logprobs is not None:
                r.logprobs.append(token_logprobs(logits[i], toks[i], r.req.logprobs, self.token_text))
        return toks, (torch.tensor(toks, device=self.device) if sampled else greedy)
