"""LRU registry of loaded adapters over a fixed pool of LoRA slots, with drain-then-evict for pinned adapters."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from .adapters import LoraWeights
from .engine import AdapterNotFound


@dataclass(eq=False)
class AdapterEntry:
    adapter_id: str
    path: str
    rank: int
    weights: LoraWeights | None  # host copy, kept only until written into a slot
    slot: int | None = None  # None: waiting for a free slot
    refs: int = 0  # requests queued or in flight
    retired: bool = False  # unloaded/evicted/replaced: no new requests, freed once refs == 0


class AdapterRegistry:
    """Which adapters are loaded, in LRU order, and which slot each one occupies.

    Invariants: at most `max_adapters` registered (nameable) adapters; slots 1..max_adapters are held by
    registered adapters or by retired ones whose requests are still in flight ("drain then evict"): a slot is
    cleared and reused only when no request uses it. An adapter that finds no free slot waits in `pending`;
    requests naming it stay queued until it gets one. Not thread-safe: the engine calls it under its lock.
    """

    def __init__(
        self,
        max_adapters: int,
        write_slot: Callable[[int, LoraWeights], None],
        clear_slot: Callable[[int], None],
    ):
        if max_adapters < 1:
            raise ValueError("max_adapters must be >= 1")
        self.max_adapters = max_adapters
        self._write_slot = write_slot
        self._clear_slot = clear_slot
        self.entries: OrderedDict[str, AdapterEntry] = OrderedDict()  # least recently used first
        self.free_slots = list(range(max_adapters, 0, -1))  # pop() hands out slot 1 first
        self.pending: list[AdapterEntry] = []
        self.draining: list[AdapterEntry] = []
        self.evictions = 0

    def ids(self) -> list[str]:
        return list(self.entries)

    def add(self, adapter_id: str, path: str, weights: LoraWeights) -> list[str]:
        """Register an adapter (replacing one of the same id); returns the ids evicted to make room."""
        evicted = []
        old = self.entries.pop(adapter_id, None)
        if old is not None:
            self._retire(old)
        while len(self.entries) >= self.max_adapters:
            idle = [e for e in self.entries.values() if e.refs == 0]
            victim = idle[0] if idle else next(iter(self.entries.values()))
            del self.entries[victim.adapter_id]
            self._retire(victim)
            self.evictions += 1
            evicted.append(victim.adapter_id)
        entry = AdapterEntry(adapter_id, path, weights.rank, weights)
        self.entries[adapter_id] = entry
        self.pending.append(entry)
        self._assign()
        return evicted

    def remove(self, adapter_id: str) -> None:
        entry = self.entries.pop(adapter_id, None)
        if entry is None:
            raise AdapterNotFound(f"adapter {adapter_id!r} is not loaded")
        self._retire(entry)

    def acquire(self, adapter_id: str) -> AdapterEntry:
        """Pin an adapter for one request (and mark it most recently used)."""
        entry = self.entries.get(adapter_id)
        if entry is None:
            raise AdapterNotFound(f"adapter {adapter_id!r} is not loaded")
        self.entries.move_to_end(adapter_id)
        entry.refs += 1
        if entry.slot is None:
            self._assign()
        return entry

    def release(self, entry: AdapterEntry) -> None:
        entry.refs -= 1
        if entry.retired and entry.refs == 0:
            self._free(entry)
            self._assign()

    def _retire(self, entry: AdapterEntry) -> None:
        entry.retired = True
        if entry.refs == 0:
            self._free(entry)
        else:
            self.draining.append(entry)

    def _free(self, entry: AdapterEntry) -> None:
        if entry in self.pending:
            self.pending.remove(entry)
        if entry in self.draining:
            self.draining.remove(entry)
        if entry.slot is not None:
            self._clear_slot(entry.slot)
            self.free_slots.append(entry.slot)
            entry.slot = None
        entry.weights = None

    def _assign(self) -> None:
        """Give free slots to pending adapters (those with waiting requests first)."""
        while self.pending:
            waiting = [e for e in self.pending if e.refs > 0]
            entry = (waiting or self.pending)[0]
            if not self.free_slots:
                # Requests are waiting but every slot is taken: evict an idle, registered adapter if any.
                idle = [e for e in self.entries.values() if e.refs == 0 and e.slot is not None]
                if not waiting or not idle:
                    return
                del self.entries[idle[0].adapter_id]
                self._retire(idle[0])
                self.evictions += 1
            slot = self.free_slots.pop()
            self._write_slot(slot, entry.weights)
            entry.slot, entry.weights = slot, None
            self.pending.remove(entry)
