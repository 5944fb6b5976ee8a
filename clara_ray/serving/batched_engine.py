"""Batched multi-LoRA engine: one HF causal LM, many LoRA adapters, continuous batching on an asyncio loop, on
any torch device (CPU or CUDA)."""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import torch

from clara_ray.model.chat_format import text_prompt_ids

from .adapters import read_lora_adapter
from .batch_step import BatchStepper
from .engine_row import Event, Row, RowState, resolve_sampling
from .detok import IncrementalDetokenizer, StopChecker, make_decode
from .engine import (
    Engine,
    EngineError,
    EngineOverloaded,
    GenerationRequest,
    GenerationResult,
    PromptTooLong,
    StreamChunk,
)
from .lru import AdapterRegistry
from .multi_lora import LoraBank
from .placement import forward_overhead_tokens
from .served_model import ServedModel

BASE_KEY = "__base__"  # stats key for requests without adapter
_DONE = object()


class BatchedEngine(Engine):
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

    Device: `device` ("cpu", "cuda", "cuda:N", "auto" or a torch.device) holds the model, the LoRA slot tensors and
    every tensor of a step; only each step's chosen tokens (and logprobs, when asked) come back to the host.

    Model defaults: `dtype="auto"` takes config.json's dtype (placement.engine_dtype says what each device runs);
    request sampling fields left None take the model's generation_config values (do_sample unset = greedy); every
    generation_config `eos_token_id` stops a row.

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
        device: str | torch.device = "cpu",
        num_threads: int | None = None,
        chat_template: str | None = None,
    ):
        if max_batch_size < 1 or max_lora_rank < 1 or max_new_tokens < 1:
            raise ValueError("max_batch_size, max_lora_rank and max_new_tokens must be >= 1")
        if num_threads:
            torch.set_num_threads(num_threads)
        self.base_model_path = str(base_model_path)
        m = ServedModel.load(base_model_path, device=device, dtype=dtype, chat_template=chat_template)
        self.device, self.dtype, self.model, self.tokenizer = m.device, m.dtype, m.model, m.tokenizer
        self.context_len, self.eos_ids, self.pad_id = m.context_len, m.eos_ids, m.pad_id
        self.sampling_defaults = m.sampling_defaults
        self.max_prompt_tokens = min(max_prompt_tokens or self.context_len - 1, self.context_len - 1)
        self.max_new_tokens = max_new_tokens
        self.max_batch_size = max_batch_size
        self.batch_wait_s = batch_wait_ms / 1000.0
        self.max_queue = max_queue
        self.max_lora_rank = max_lora_rank
        self.expected_base = expected_base
        self.base_aliases = tuple(base_aliases)
        self._decode_ids = make_decode(self.tokenizer)

        self.bank = LoraBank(self.model, num_slots=max_adapters + 1, max_rank=max_lora_rank)
        self._stepper = BatchStepper(
            self.model, self.bank, device=self.device, dtype=self.dtype, pad_id=self.pad_id, eos_ids=self.eos_ids,
            token_text=self._token_text,
            forward_overhead_tokens=forward_overhead_tokens(m.body_params(), self.model.config.num_hidden_layers,
                                                            self.device),
        )
        self._shapes = self.bank.shapes()
        # Two locks, always taken in this order: `_lock` guards the registry, queue and counters (short
        # sections: submitting does not wait for a forward); `_model_lock` is held by the worker for each step
        # and by LoRA slot writes, which serialises adapter loads/unloads with decoding.
        self._lock = threading.RLock()
        self._model_lock = threading.RLock()
        self._registry = AdapterRegistry(max_adapters, self._write_slot, self._clear_slot)
        self._waiting: deque[Row] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._wake: asyncio.Event | None = None
        self._closed = False
        # counters
        self._requests: dict[str, int] = {}
        self._tokens: dict[str, int] = {}

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
            if row.state is not RowState.DONE:
                self._cancel(row)
        if isinstance(item, BaseException):
            raise item
        return row.result()

    async def stream(self, req: GenerationRequest) -> AsyncIterator[StreamChunk]:
        row = self._submit(req, streaming=True)
        try:
            while True:
                item = await row.queue.get()
                if isinstance(item, BaseException):
                    raise item
                if item is _DONE:
                    yield StreamChunk(logprobs=row.unsent_logprobs(), finish_reason=row.finish_reason,
                                      prompt_tokens=len(row.prompt_ids), completion_tokens=len(row.token_ids))
                    return
                yield StreamChunk(text=item, logprobs=row.unsent_logprobs())
        finally:
            if row.state is not RowState.DONE:
                self._cancel(row)

    def _submit(self, req: GenerationRequest, streaming: bool) -> Row:
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
        temperature, top_p, rep_penalty, gen = resolve_sampling(req, self.sampling_defaults, self.device)
        with self._lock:
            if len(self._waiting) >= self.max_queue:
                raise EngineOverloaded(f"{len(self._waiting)} requests queued (max_queue={self.max_queue})")
            entry = self._registry.acquire(req.adapter) if req.adapter is not None else None
            row = Row(req=req, prompt_ids=ids, max_tokens=max_tokens, entry=entry, streaming=streaming,
                      queue=asyncio.Queue(), detok=IncrementalDetokenizer(self._decode_ids, ids),
                      stopper=StopChecker(req.stop), gen=gen, temperature=temperature, top_p=top_p,
                      rep_penalty=rep_penalty)
            self._waiting.append(row)
        self._wake.set()
        return row

    def _cancel(self, row: Row) -> None:
        """Client went away: drop a queued row now, a running one at the next step."""
        with self._lock:
            if row.state is RowState.WAITING:
                self._waiting.remove(row)
                self._finish(row)
            elif row.state is RowState.RUNNING:
                row.cancelled = True

    def _finish(self, row: Row, error: BaseException | None = None) -> None:
        """Loop thread, under the lock: unpin the adapter, count, wake the waiter."""
        if row.state is RowState.DONE:
            return
        row.state = RowState.DONE
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
        self._task = loop.create_task(self._run(), name="clara-batched-engine")

    def _abandon(self) -> None:
        with self._lock, self._model_lock:  # a step of the old loop may still be running in its thread
            for row in [*self._waiting, *self._stepper.batch.rows]:
                row.state = RowState.DONE
                if row.entry is not None:
                    self._registry.release(row.entry)
            self._waiting.clear()
            self._stepper.reset()

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

    def _admit(self) -> list[Row]:
        with self._lock:
            room = self.max_batch_size - len(self._stepper.batch)
            take, keep = [], deque()
            for row in self._waiting:
                if len(take) < room and (row.entry is None or row.entry.slot is not None):
                    row.slot = row.entry.slot if row.entry is not None else 0
                    row.state = RowState.RUNNING
                    take.append(row)
                else:
                    keep.append(row)
            self._waiting = keep
            return take

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        just_prefilled = False
        while True:
            if not self._stepper.batch.rows and not self._ready():
                self._wake.clear()
                await self._wake.wait()
                continue
            if not self._stepper.batch.rows:  # dynamic batching window
                deadline = loop.time() + self.batch_wait_s
                while self._ready() < self.max_batch_size and (left := deadline - loop.time()) > 0:
                    self._wake.clear()
                    try:
                        await asyncio.wait_for(self._wake.wait(), left)
                    except asyncio.TimeoutError:
                        break
            # Alternate: after a prefill, run at least one decode step so joiners cannot starve running rows.
            joiners = [] if (just_prefilled and self._stepper.batch.rows) else self._admit()
            just_prefilled = bool(joiners)
            try:
                events = await asyncio.to_thread(self._step, joiners)
            except Exception as e:  # a failed forward fails its rows, not the engine
                with self._lock, self._model_lock:
                    for row in [*joiners, *self._stepper.batch.rows]:
                        self._finish(row, e)
                    self._stepper.reset()
                continue
            with self._lock:
                for row, delta, done in events:
                    if delta and row.streaming:
                        row.queue.put_nowait(delta)
                    if done:
                        self._finish(row)

    # ------------------------------------------------------------------ model work (worker thread)

    def _step(self, joiners: list[Row]) -> list[Event]:
        with self._model_lock:
            return self._stepper.step(joiners)

    def _token_text(self, token_id: int) -> str:
        return self.tokenizer.decode([token_id])

    # ------------------------------------------------------------------ admin

    def stats(self) -> dict:
        with self._lock:
            reg = self._registry
            return {
                "loaded_adapters": reg.ids(),
                "pending_adapters": [e.adapter_id for e in reg.pending],
                "draining_adapters": [e.adapter_id for e in reg.draining],
                "max_adapters": reg.max_adapters,
                "evictions": reg.evictions,
                "requests_served": dict(self._requests),
                "tokens_generated": dict(self._tokens),
                **self._stepper.counters(),
                "device": str(self.device),
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
            for row in [*self._waiting, *self._stepper.batch.rows]:
                self._finish(row, err)
            self._waiting.clear()
            self._stepper.reset()
