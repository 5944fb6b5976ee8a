"""Unit tests of the engine's parts: incremental detokenizer, stop strings, multi-LoRA linear, adapter registry."""

from __future__ import annotations

import pytest
import torch

from clara_ray.serving.adapters import LoraWeights
from clara_ray.serving.detok import IncrementalDetokenizer, StopChecker, make_decode
from clara_ray.serving.engine import AdapterNotFound
from clara_ray.serving.lru import AdapterRegistry
from clara_ray.serving.multi_lora import LoraBank

pytestmark = [pytest.mark.timeout(120), pytest.mark.filterwarnings("ignore::FutureWarning")]


def test_incremental_detok_handles_split_multibyte_characters(tiny_base):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_base)
    text = " Grüße aus Köln 🙂 – Übermäßig süß! 日本"
    prompt = tok("Hallo").input_ids
    ids = tok(text, add_special_tokens=False).input_ids
    det = IncrementalDetokenizer(make_decode(tok), prompt)
    deltas = [det.push(i) for i in ids]
    deltas.append(det.flush())
    assert "".join(deltas) == text
    assert not any("\ufffd" in d for d in deltas)
    assert deltas.count("") > 0  # some tokens end mid-character and are held back
    assert sum(1 for d in deltas if d) > 5


def test_incremental_detok_flushes_incomplete_tail(tiny_base):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_base)
    ids = tok("🙂", add_special_tokens=False).input_ids
    assert len(ids) > 1
    det = IncrementalDetokenizer(make_decode(tok), [])
    assert det.push(ids[0]) == ""
    assert det.flush() == "\ufffd"  # a truncated character is not silently dropped at the end


def test_stop_checker():
    sc = StopChecker(["STOP", "\n\n"])
    assert sc.find("abc STO", 0) == -1
    assert sc.safe_len("abc STO") == 4
    assert sc.find("abc STOP x", 5) == 4
    assert sc.safe_len("line\n") == 4
    assert sc.safe_len("plain") == 5
    assert StopChecker(None).safe_len("abc") == 3


def _weights(rank, mods, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return LoraWeights(
        path="mem",
        rank=rank,
        modules={n: (torch.randn(fi, rank, generator=g), scale * torch.randn(rank, fo, generator=g)) for n, (fi, fo) in mods.items()},
    )


def test_multi_lora_linear_matches_per_row_reference():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(12, 10), torch.nn.ReLU(), torch.nn.Linear(10, 6))
    ref = [torch.nn.Sequential(*[torch.nn.Linear(12, 10), torch.nn.ReLU(), torch.nn.Linear(10, 6)]) for _ in range(1)]
    ref[0].load_state_dict(model.state_dict())
    bank = LoraBank(model, num_slots=4, max_rank=16)
    w1 = _weights(4, {"0": (12, 10), "2": (10, 6)}, 1)
    w2 = _weights(16, {"2": (10, 6)}, 2)  # different rank, only one module
    bank.write(1, w1)
    bank.write(2, w2)
    assert bank.capacity == 16
    x = torch.randn(5, 3, 12)
    slots = [1, 0, 2, 1, 2]

    def expected(xi, w):
        h = ref[0][0](xi)
        if w and "0" in w.modules:
            a, b = w.modules["0"]
            h = h + xi @ a @ b
        h = torch.relu(h)
        y = ref[0][2](h)
        if w and "2" in w.modules:
            a, b = w.modules["2"]
            y = y + h @ a @ b
        return y

    with torch.no_grad():
        bank.activate(bank.gather(slots))
        got = model(x)
        for i, s in enumerate(slots):
            torch.testing.assert_close(got[i], expected(x[i], {0: None, 1: w1, 2: w2}[s]), rtol=1e-5, atol=1e-5)
        bank.activate(bank.gather([2, 2]))  # single-adapter fast path
        torch.testing.assert_close(model(x[:2]), torch.stack([expected(x[i], w2) for i in range(2)]), rtol=1e-5, atol=1e-5)
        bank.activate(bank.gather([0, 0]))  # base rows: plain model
        torch.testing.assert_close(model(x[:2]), ref[0](x[:2]))
        bank.clear(1)
        bank.activate(bank.gather([1]))
        torch.testing.assert_close(model(x[:1]), ref[0](x[:1]))


def test_registry_drain_then_evict():
    writes, clears = [], []
    reg = AdapterRegistry(2, lambda s, w: writes.append(s), clears.append)
    w = LoraWeights(path="p", rank=8)
    reg.add("a", "p", w)
    reg.add("b", "p", w)
    assert writes == [1, 2]
    ea = reg.acquire("a")
    reg.acquire("b")
    reg.release(reg.entries["b"])
    reg.acquire("a")  # a most recently used and pinned -> b is the victim
    assert reg.add("c", "p", w) == ["b"] and clears == [2] and reg.entries["c"].slot == 2
    ec = reg.acquire("c")
    # both pinned: the least recently used (a) is retired, but its slot stays until its requests finish
    assert reg.add("d", "p", w) == ["a"]
    assert reg.ids() == ["c", "d"] and [e.adapter_id for e in reg.draining] == ["a"]
    d = reg.entries["d"]
    assert d.slot is None and reg.pending == [d]
    with pytest.raises(AdapterNotFound):
        reg.acquire("a")
    reg.release(ea)
    assert d.slot is None  # still pinned once
    reg.release(ea)
    assert d.slot == 1 and clears == [2, 1] and reg.draining == [] and reg.pending == []
    reg.release(ec)
    reg.remove("c")  # idle: freed at once
    assert clears == [2, 1, 2] and reg.free_slots == [2]
    with pytest.raises(AdapterNotFound):
        reg.remove("zzz")
