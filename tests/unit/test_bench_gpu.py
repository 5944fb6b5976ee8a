"""`python -m bench.gpu --smoke` end to end: both parts run on the CPU with a tiny Llama and print their tables
(the QLoRA row says why it was skipped)."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.timeout(300), pytest.mark.filterwarnings("ignore::FutureWarning")]


def test_smoke_prints_both_tables(capsys):
    from bench.gpu.__main__ import main

    main(["--smoke"])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    by_name = {line.split(" | ")[0].removeprefix("| "): line for line in rows}
    assert "| run | tokens/s | model memory GiB | peak memory GiB | MFU % | last loss |" in out
    lora = by_name["LoRA r=16, bf16 weights"].split(" | ")
    assert float(lora[1].replace(",", "")) > 0 and lora[3] == "n/a"  # tokens/s measured; no CUDA memory on CPU
    assert "skipped: QLoRA nf4 needs CUDA" in by_name["QLoRA r=16, nf4 weights (double quant, bf16 compute)"]
    assert "| run | adapters | generated tok/s | peak memory GiB | vs base (engine) | notes |" in out
    assert "base model, HF generate" in by_name and "base model, batched engine" in by_name
    engine_rows = [r for r in rows if r.startswith("| batched engine (")]
    naive_rows = [r for r in rows if r.startswith("| naive peft")]
    assert [r.split(" | ")[1] for r in engine_rows] == ["2", "4"] == [r.split(" | ")[1] for r in naive_rows]
    assert all(float(r.split(" | ")[2].replace(",", "")) > 0 for r in engine_rows + naive_rows)
    assert "bench.gpu finished in" in out
