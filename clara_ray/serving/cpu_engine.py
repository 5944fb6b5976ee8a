"""CPU multi-LoRA engine: one HF causal LM, many LoRA adapters, continuous batching on an asyncio loop."""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, DynamicCache

from clara_ray.model.chat_format import closing_token_ids, text_prompt_ids
from clara_ray.model.tokenizer import load_tokenizer

from .adapters import read_lora_adapter
from .batcher import DecodeBatch, prefill_groups, prefill_inputs
from .detok import IncrementalDetokenizer, StopChecker, make_decode
from .engine import (
    Engine,
    EngineError,
    EngineOverloaded,
    GenerationRequest,
    GenerationResult,
    PromptTooLong,
    StreamChunk,
    TokenLogprob,
)
from .lru import AdapterEntry, AdapterRegistry
from .model_defaults import SamplingDefaults
from .multi_lora import LoraBank
from .sampling import GREEDY_BELOW, engine_dtype, penalise, penalise_output, sample, token_logprobs

BASE_KEY = "__base__"  # stats key for requests without adapter
_DONE = object()


@dataclass(eq=False)
class _Row:
    req: GenerationRequest
    prompt_ids: list[int]
    max_tokens: int
    entry: AdapterEntry | None
    streaming: bool
    queue: asyncio.Queue
    detok: IncrementalDetokenizer
    stopper: StopChecker
    gen: torch.Generator | None
    temperature: float = 0.0  # resolved sampling values (request, else the model's generation_config)
    top_p: float = 1.0
    rep_penalty: float = 1.0
    slot: int = 0  # LoRA slot, fixed at admission (0 = base model)
    state: str = "waiting"  # waiting -> running -> done
    token_ids: list[int] = field(default_factory=list)
    text: str = ""
    sent: int = 0  # chars of `text` already streamed
    logprobs: list[TokenLogprob] = field(default_factory=list)  # one per token_ids entry, when requested
    logprobs_sent: int = 0
    finish_reason: str | None = None
    cancelled: bool = False


class CpuEngine(Engine):
    """Serves one base model plus up to `max_adapters` LoRA adapters with batched multi-LoRA forwards.

    Scheduling (continuous batching): an asyncio task owns the running batch. When idle it waits up to
    `batch_wait_ms` (or until `max_batch_size` requests are ready) and prefills them (left-padded; rows of very
    different prompt lengths may be split into a few prefill forwards to limit padding). Then every decode step
    is ONE forward for all rows, whatever adapter each row uses. New requests join between steps (prefill, then
    their KV cache is merged into the batch's); finished rows leave. Forwards run in a worker thread
    (`asyncio.to_thread`) under the engine lock, which also serialises adapter loads/unloads with decoding.

    Adapters: each loaded adapter occupies a slot of the stacked LoRA tensors (see multi_lora.py). Adapters
    used by queued or running requests are pinned: unloading/evicting one retires it at once (new requests
    get AdapterNotFound) but its slot is cleared only after those requests finish ("drain then evict").

    Model defaults: `dtype="auto"` takes config.json's dtype; request sampling fields left None take the model's
    generation_config values (do_sample unset = greedy); every generation_config `eos_token_id` stops a row.

    Limits: `max_tokens` is clamped to `max_new_tokens` and to the model context; full-attention decoder
    models only (a sliding window, if configured, is ignored).
    """

    def __init__(
        self,
        base_model_path: str | Path,
        *,
        max_adapters: int = 8,
        max_lora_rank: int = 64,
        max_batch_size: int = 16,
        batch_wait_ms: float = 5,
        max_prompt_tokens: int | None = None,
        max_new_tokens: int = 512,
        max_queue: int = 1024,
        expected_base: str | None = None,
        base_aliases: Sequence[str] = (),
        dtype: str | torch.dtype = torch.float32,
        num_threads: int | None = None,
        chat_template: str | None = None,
    ):
        if max_batch_size < 1 or max_lora_rank < 1 or max_new_tokens < 1:
            raise ValueError("max_batch_size, max_lora_rank and max_new_tokens must be >= 1")
        if num_threads:
            torch.set_num_threads(num_threads)
        self.base_model_path = str(base_model_path)
        self.dtype = engine_dtype(self.base_model_path, dtype)
        self.tokenizer = load_tokenizer(self.base_model_path, chat_template)  # the template training used
        self.model = AutoModelForCausalLM.from_pretrained(self.base_model_path, dtype=self.dtype).eval()
        self.model.requires_grad_(False)
        cfg = self.model.config
        self.context_len = int(getattr(cfg, "max_position_embeddings", 0) or 4096)
        self.max_prompt_tokens = min(max_prompt_tokens or self.context_len - 1, self.context_len - 1)
        self.max_new_tokens = max_new_tokens
        self.max_batch_size = max_batch_size
        self.batch_wait_s = batch_wait_ms / 1000.0
        self.max_queue = max_queue
        self.max_lora_rank = max_lora_rank
        self.expected_base = expected_base
        self.base_aliases = tuple(base_aliases)
        self.sampling_defaults = SamplingDefaults.from_generation_config(self.model.generation_config)
        eos = self.model.generation_config.eos_token_id
        eos = [eos] if isinstance(eos, int) else list(eos or [])
        if self.tokenizer.eos_token_id is not None:
            eos.append(self.tokenizer.eos_token_id)
        self.eos_ids = frozenset(eos + closing_token_ids(self.tokenizer))  # + the token that closes a turn
        self.pad_id = next(
            i for i in (self.tokenizer.pad_token_id, self.tokenizer.eos_token_id, 0) if i is not None
        )
        self._decode_ids = make_decode(self.tokenizer)
        # Fixed cost of one forward in token-rows, for splitting prefills by prompt length. Rough CPU model:
        # ~(2 + 1/layer) ms of Python/dispatch per forward at ~50 GFLOP/s, vs 2 FLOPs per weight per token
        # (tiny models: hundreds of token-rows -> one prefill forward; 13M params, 4 layers: ~12).
        n_params = sum(p.numel() for n, p in self.model.named_parameters() if "embed" not in n)
        self._forward_overhead_tokens = (2e-3 + 1e-3 * cfg.num_hidden_layers) * 5e10 / (2 * max(1, n_params))

        self.bank = LoraBank(self.model, num_slots=max_adapters + 1, max_rank=max_lora_rank)
        self._shapes = self.bank.shapes()
        # Two locks, always taken in this order: `_lock` guards the registry, queue and counters (short
        # sections: submitting does not wait for a forward); `_model_lock` is held by the worker for each step
        # and by LoRA slot writes, which serialises adapter loads/unloads with decoding.
        self._lock = threading.RLock()
        self._model_lock = threading.RLock()
        self._registry = AdapterRegistry(max_adapters, self._write_slot, self._clear_slot)
        self._batch = DecodeBatch(cfg.num_hidden_layers)
        self._waiting: deque[_Row] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._wake: asyncio.Event | None = None
        self._closed = False
        # counters
        self._requests: dict[str, int] = {}
        self._tokens: dict[str, int] = {}
        self._prefills = self._decodes = self._prefill_rows = self._decode_rows = 0

    # ------------------------------------------------------------------ adapters

    def load_adapter(self, adapter_id: str, path: str, *, expected_base: str | None = None) -> None:
        """Validate then load `path`; replaces an adapter of the same id (its running requests finish on the
        old weights). May evict the least recently used adapter. Raises AdapterNotFound / AdapterIncompatible."""
        if not adapter_id:
            raise ValueError("adapter_id must be non-empty")
        weights = read_lora_adapter(  # file IO and checks happen before touching the model
            path,
            candidates=self._shapes,
            max_rank=self.max_lora_rank,
            expected_base=expected_base or self.expected_base,
            base_aliases=self.base_aliases,
            dtype=self.dtype,
        )
        with self._lock:
            self._registry.add(adapter_id, str(path), weights)
        self._notify()

    def _write_slot(self, slot: int, weights) -> None:
        with self._model_lock:
            self.bank.write(slot, weights)

    def _clear_slot(self, slot: int) -> None:
        with self._model_lock:
            self.bank.clear(slot)

    def unload_adapter(self, adapter_id: str) -> None:
        with self._lock:
            self._registry.remove(adapter_id)
        self._notify()

    def loaded_adapters(self) -> list[str]:
        with self._lock:
            return self._registry.ids()

    # ------------------------------------------------------------------ requests

    async def generate(self, req: GenerationRequest) -> GenerationResult:
        row = self._submit(req, streaming=False)
        try:
            item = await row.queue.get()
        finally:
            if row.state != "done":
                self._cancel(row)
        if isinstance(item, BaseException):
            raise item
        return self._result(row)

    async def stream(self, req: GenerationRequest) -> AsyncIterator[StreamChunk]:
        row = self._submit(req, streaming=True)
        try:
            while True:
                item = await row.queue.get()
                if isinstance(item, BaseException):
                    raise item
                if item is _DONE:
                    yield StreamChunk(logprobs=self._unsent_logprobs(row), finish_reason=row.finish_reason,
                                      prompt_tokens=len(row.prompt_ids), completion_tokens=len(row.token_ids))
                    return
                yield StreamChunk(text=item, logprobs=self._unsent_logprobs(row))
        finally:
            if row.state != "done":
                self._cancel(row)

    @staticmethod
    def _unsent_logprobs(row: _Row) -> list[TokenLogprob] | None:
        if row.req.logprobs is None:
            return None
        new, row.logprobs_sent = row.logprobs[row.logprobs_sent :], len(row.logprobs)
        return new

    def _result(self, row: _Row) -> GenerationResult:
        return GenerationResult(
            text=row.text,
            token_ids=row.token_ids,
            completion_tokens=len(row.token_ids),
            prompt_tokens=len(row.prompt_ids),
            finish_reason=row.finish_reason,
            adapter=row.req.adapter,
            logprobs=row.logprobs if row.req.logprobs is not None else None,
        )

    def _submit(self, req: GenerationRequest, streaming: bool) -> _Row:
        if self._closed:
            raise EngineError("engine is closed")
        self._ensure_running()
        ids = list(req.prompt_token_ids) if req.prompt_token_ids is not None else \
            text_prompt_ids(self.tokenizer, req.prompt)
        if not ids:
            raise ValueError("prompt is empty")
        if len(ids) > self.max_prompt_tokens:
            raise PromptTooLong(f"prompt has {len(ids)} tokens, limit is {self.max_prompt_tokens}")
        max_tokens = min(req.max_tokens, self.max_new_tokens, self.context_len - len(ids))
        temperature, top_p, rep_penalty = self.sampling_defaults.resolve(req)
        temperature = 0.0 if temperature < GREEDY_BELOW else temperature  # logits / 1e-300 would overflow
        gen = None
        if temperature > 0:
            gen = torch.Generator()
            gen.manual_seed(req.seed) if req.seed is not None else gen.seed()
        with self._lock:
            if len(self._waiting) >= self.max_queue:
                raise EngineOverloaded(f"{len(self._waiting)} requests queued (max_queue={self.max_queue})")
            entry = self._registry.acquire(req.adapter) if req.adapter is not None else None
            row = _Row(
                req=req,
                prompt_ids=ids,
                max_tokens=max_tokens,
                entry=entry,
                streaming=streaming,
                queue=asyncio.Queue(),
                detok=IncrementalDetokenizer(self._decode_ids, ids),
                stopper=StopChecker(req.stop),
                gen=gen,
                temperature=temperature,
                top_p=top_p,
                rep_penalty=rep_penalty,
            )
            self._waiting.append(row)
        self._wake.set()
        return row

    def _cancel(self, row: _Row) -> None:
        """Client went away: drop a queued row now, a running one at the next step."""
        with self._lock:
            if row.state == "waiting":
                self._waiting.remove(row)
                self._finish(row)
            elif row.state == "running":
                row.cancelled = True

    def _finish(self, row: _Row, error: BaseException | None = None) -> None:
        """Loop thread, under the lock: unpin the adapter, count, wake the waiter."""
        if row.state == "done":
            return
        row.state = "done"
        if row.entry is not None:
            self._registry.release(row.entry)
        key = row.req.adapter or BASE_KEY
        self._tokens[key] = self._tokens.get(key, 0) + len(row.token_ids)
        if error is None and row.finish_reason is not None:
            self._requests[key] = self._requests.get(key, 0) + 1
        row.queue.put_nowait(error if error is not None else _DONE)

    # ------------------------------------------------------------------ scheduling loop

    def _ensure_running(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is loop and self._task is not None and not self._task.done():
            return
        if self._loop is not loop:
            self._abandon()  # requests of a previous (finished) event loop can never be delivered
        self._loop, self._wake = loop, asyncio.Event()
        self._task = loop.create_task(self._run(), name="clara-cpu-engine")

    def _abandon(self) -> None:
        with self._lock, self._model_lock:  # a step of the old loop may still be running in its thread
            for row in [*self._waiting, *self._batch.rows]:
                row.state = "done"
                if row.entry is not None:
                    self._registry.release(row.entry)
            self._waiting.clear()
            self._batch = DecodeBatch(self._batch.num_layers)

    def _notify(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            wake.set()
        else:
            loop.call_soon_threadsafe(wake.set)

    def _ready(self) -> int:
        return sum(1 for r in self._waiting if r.entry is None or r.entry.slot is not None)

    def _admit(self) -> list[_Row]:
        with self._lock:
            room = self.max_batch_size - len(self._batch)
            take, keep = [], deque()
            for row in self._waiting:
                if len(take) < room and (row.entry is None or row.entry.slot is not None):
                    row.slot = row.entry.slot if row.entry is not None else 0
                    row.state = "running"
                    take.append(row)
                else:
                    keep.append(row)
            self._waiting = keep
            return take

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        just_prefilled = False
        while True:
            if not self._batch.rows and not self._ready():
                self._wake.clear()
                await self._wake.wait()
                continue
            if not self._batch.rows:  # dynamic batching window
                deadline = loop.time() + self.batch_wait_s
                while self._ready() < self.max_batch_size and (left := deadline - loop.time()) > 0:
                    self._wake.clear()
                    try:
                        await asyncio.wait_for(self._wake.wait(), left)
                    except asyncio.TimeoutError:
                        break
            # Alternate: after a prefill, run at least one decode step so joiners cannot starve running rows.
            joiners = [] if (just_prefilled and self._batch.rows) else self._admit()
            just_prefilled = bool(joiners)
            try:
                events = await asyncio.to_thread(self._step, joiners)
            except Exception as e:  # a failed forward fails its rows, not the engine
                with self._lock, self._model_lock:
                    for row in [*joiners, *self._batch.rows]:
                        self._finish(row, e)
                    self._batch = DecodeBatch(self._batch.num_layers)
                continue
            with self._lock:
                for row, delta, done in events:
                    if delta and row.streaming:
                        row.queue.put_nowait(delta)
                    if done:
                        self._finish(row)

    # ------------------------------------------------------------------ model work (worker thread)

    def _step(self, joiners: list[_Row]) -> list[tuple[_Row, str, bool]]:
        events: list[tuple[_Row, str, bool]] = []
        with self._model_lock, torch.inference_mode():
            b = self._batch
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

    def _prefill(self, joiners: list[_Row], events: list) -> None:
        lengths = [len(r.prompt_ids) for r in joiners]
        for group in prefill_groups(lengths, self._forward_overhead_tokens):
            self._prefill_group([joiners[i] for i in group], events)

    def _prefill_group(self, rows: list[_Row], events: list) -> None:
        self.bank.activate(self.bank.gather([r.slot for r in rows]))
        ids, mask, pos, attn = prefill_inputs([r.prompt_ids for r in rows], self.pad_id, self.dtype)
        cache = DynamicCache()
        toks = self._next_tokens(self._forward(ids, attn, pos, cache), rows)
        self._prefills += 1
        self._prefill_rows += len(rows)
        alive = [(i, r) for i, (r, t) in enumerate(zip(rows, toks)) if not self._push(r, t, events)]
        if alive:
            self._batch.add(
                alive,
                cache,
                mask,
                torch.tensor([len(r.prompt_ids) for r in rows]),  # next position = prompt length
                torch.tensor(toks),
            )

    def _decode_step(self, events: list) -> None:
        b = self._batch
        if b.lora is None or b.lora.version != self.bank.version:
            b.lora = self.bank.gather([r.slot for r in b.rows])
        self.bank.activate(b.lora)
        ids, attn, pos = b.decode_inputs(self.dtype)
        toks = self._next_tokens(self._forward(ids, attn, pos, b.cache()), b.rows)
        self._decodes += 1
        self._decode_rows += len(b.rows)
        b.pos = b.pos + 1
        b.last = torch.tensor(toks)
        b.keep([i for i, (r, t) in enumerate(zip(b.rows, toks)) if not self._push(r, t, events)])

    def _next_tokens(self, logits: torch.Tensor, rows: list[_Row]) -> list[int]:
        for i, r in enumerate(rows):
            if r.rep_penalty != 1.0:
                penalise(logits[i], r.prompt_ids + r.token_ids, r.rep_penalty)
            if r.token_ids and (r.req.presence_penalty or r.req.frequency_penalty):
                penalise_output(logits[i], r.token_ids, r.req.presence_penalty, r.req.frequency_penalty)
        toks = logits.argmax(-1).tolist()
        for i, r in enumerate(rows):
            if r.temperature > 0:
                toks[i] = sample(logits[i], r.temperature, r.top_p, r.gen)
            if r.req.logprobs is not None:
                r.logprobs.append(token_logprobs(logits[i], toks[i], r.req.logprobs, self._token_text))
        return toks

    def _token_text(self, token_id: int) -> str:
        return self.tokenizer.decode([token_id])

    def _push(self, row: _Row, tok: int, events: list) -> bool:
        """Record a sampled token; emit the text that is now safe to stream. Returns True if the row finished."""
        row.token_ids.append(tok)
        reason = None
        if tok in self.eos_ids:
            reason, new = "stop", row.detok.flush()
        else:
            new = row.detok.push(tok)
            if len(row.token_ids) >= row.max_tokens:
                reason, new = "length", new + row.detok.flush()
        if new:
            start = len(row.text)
            row.text += new
            i = row.stopper.find(row.text, start)
            if i >= 0:
                row.text, reason = row.text[: max(i, row.sent)], "stop"
        end = len(row.text) if reason else row.stopper.safe_len(row.text)
        delta = row.text[row.sent : end] if end > row.sent else ""
        row.sent = max(row.sent, end)
        if reason:
            row.finish_reason = reason
        if delta or reason:
            events.append((row, delta, reason is not None))
        return reason is not None

    # ------------------------------------------------------------------ admin

    def stats(self) -> dict:
        with self._lock:
            reg = self._registry
            forwards = self._prefills + self._decodes
            return {
                "loaded_adapters": reg.ids(),
                "pending_adapters": [e.adapter_id for e in reg.pending],
                "draining_adapters": [e.adapter_id for e in reg.draining],
                "max_adapters": reg.max_adapters,
                "evictions": reg.evictions,
                "requests_served": dict(self._requests),
                "tokens_generated": dict(self._tokens),
                "batches_run": forwards,
                "prefill_batches": self._prefills,
                "decode_steps": self._decodes,
                "mean_batch_size": (self._prefill_rows + self._decode_rows) / forwards if forwards else 0.0,
                "mean_decode_batch_size": self._decode_rows / self._decodes if self._decodes else 0.0,
                "running_rows": len(self._batch),
                "waiting_rows": len(self._waiting),
                "lora_rank_capacity": self.bank.capacity,
                "lora_slot_bytes": self.bank.nbytes(),
            }

    async def close(self) -> None:
        """Stop the scheduling task; pending requests fail with EngineError."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        with self._lock, self._model_lock:
            err = EngineError("engine closed")
            for row in [*self._waiting, *self._batch.rows]:
                self._finish(row, err)
            self._waiting.clear()
            self._batch = DecodeBatch(self._batch.num_layers)
