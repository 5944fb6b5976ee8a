"""Record validation, quality checks, deterministic split and packing (no Ray)."""

import numpy as np
import pytest

from clara_ray.training.prepare import DataError, assemble
from clara_ray.records import (
    QualityLimits, RecordError, content_hash, is_validation, normalise, quality_problem,
)


def test_shapes_normalise():
    assert normalise({"text": "abc"}) == "abc"
    assert normalise({"prompt": "P", "response": "R"}) == [
        {"role": "user", "content": "P"}, {"role": "assistant", "content": "R"}]
    msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
            {"role": "assistant", "content": "a"}]
    assert normalise({"messages": msgs}) == msgs
    assert normalise({"messages": '[{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]'})


@pytest.mark.parametrize("record,match", [
    ([1, 2], "must be an object"),
    ({"prompt": "only"}, "response"),
    ({"response": "only"}, "prompt"),
    ({"messages": []}, "non-empty"),
    ({"messages": [{"role": "bot", "content": "x"}]}, "role"),
    ({"messages": [{"role": "user", "content": "x"}]}, "no assistant"),
    ({"title": "x"}, "no 'text'"),
    ({"text": "  "}, "non-empty"),
])
def test_bad_shapes_say_why(record, match):
    with pytest.raises(RecordError, match=match):
        normalise(record)


def test_quality_limits():
    lim = QualityLimits(min_length=5, max_length=10)
    assert quality_problem("abc", lim).startswith("too short")
    assert quality_problem("a" * 11, lim).startswith("too long")
    assert "UTF-8" in quality_problem("abc\ufffddef", lim)
    assert "UTF-8" in quality_problem("abc\ud800def", lim)
    assert quality_problem("Größe ok", lim) is None


def test_hash_normalises_whitespace_and_case_and_split_is_deterministic():
    assert content_hash("Hallo  Welt") == content_hash("hallo welt\n")
    hashes = [content_hash(f"record {i}") for i in range(2000)]
    share = sum(is_validation(h, 0.1) for h in hashes) / len(hashes)
    assert 0.07 < share < 0.13
    assert [is_validation(h, 0.1) for h in hashes] == [is_validation(h, 0.1) for h in hashes]


def _row(i, ok=True, reason="", ids=None):
    ids = ids if ids is not None else list(range(i, i + 10))
    return {"ok": ok, "reason": reason, "hash": content_hash(f"r{i}") if ok else "", "path": "f.jsonl",
            "ids": np.asarray(ids, dtype=np.int32), "loss": np.ones(len(ids), dtype=bool)}


def test_assemble_dedups_splits_and_counts():
    rows = [_row(i) for i in range(100)] + [_row(3), _row(4)] + [_row(0, False, "invalid JSON (x)")]
    out = assemble(rows, block_size=16, val_fraction=0.2, pad_id=0, paths=["f.jsonl"])
    s = out.stats
    assert s["records_accepted"] == 100 and s["duplicates"] == 2 and s["records_rejected"] == 1
    assert s["rejected_by_reason"] == {"invalid JSON": 1}
    assert s["train_records"] + s["val_records"] == 100 and s["val_records"] > 0
    assert out.train_blocks.block_size == 16 and out.train_blocks.ids.dtype == np.int32
    again = assemble(list(reversed(rows)), block_size=16, val_fraction=0.2, pad_id=0, paths=["f.jsonl"])
    assert np.array_equal(out.train_blocks.ids, again.train_blocks.ids)  # order of Ray Data blocks does not matter


def test_assemble_with_nothing_valid_names_files_and_reasons():
    rows = [_row(0, False, "missing or empty 'response'"), _row(1, False, "invalid JSON (Expecting value)")]
    with pytest.raises(DataError, match=r"bad\.jsonl.*missing or empty 'response': 1"):
        assemble(rows, block_size=8, val_fraction=0.1, pad_id=0, paths=["bad.jsonl"])
