"""Training inputs through the shared readers (datasets/readers.py, recordio.py): every file kind, one row shape."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clara_ray.training.prepare import DataError, Tokenization, process_rows, read_dataset
from clara_ray.records import QualityLimits
from clara_ray.datasets.readers import expand_paths, payloads_local
from clara_ray.datasets.recordio import read_rows
from tests.real_tokenizers import build_tokenizer

CHAT = [{"role": "user", "content": "Was regelt § 35 BauGB?"},
        {"role": "assistant", "content": "Das Bauen im Außenbereich."}]


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    folder = tmp_path_factory.mktemp("qwen")
    build_tokenizer("qwen25", folder)
    return Tokenization(tokenizer_path=str(folder), max_tokens=256)


@pytest.fixture
def files(tmp_path):
    (tmp_path / "a.jsonl").write_text(json.dumps({"prompt": "Frage eins?", "completion": "Antwort eins."}) +
                                      "\n{broken\n\n")
    pq.write_table(pa.Table.from_pylist([{"messages": CHAT, "domain": "baurecht"},
                                         {"messages": CHAT[:1], "domain": "baurecht"}]), tmp_path / "b.parquet")
    (tmp_path / "c.csv").write_text("question,answer,note\nWer baut?,Der Bauherr.,\n")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "d.txt").write_text("Die Baugenehmigung ist schriftlich zu erteilen.")
    return tmp_path


def rows_of(files, spec, **kw) -> list[dict]:
    out = []
    for batch in payloads_local(expand_paths([str(files)])):
        res = process_rows({k: np.asarray(v, dtype=object) for k, v in batch.items()}, spec=spec,
                           limits=QualityLimits(min_length=5, max_length=2000), record_filter=None, **kw)
        out += [{k: res[k][i] for k in res} for i in range(len(res["path"]))]
    return out


def test_every_kind_becomes_records_or_rejections_with_reasons(files, spec):
    rows = rows_of(files, spec)
    by_file = {}
    for r in rows:
        by_file.setdefault(r["path"].rsplit("/", 1)[-1], []).append(r["reason"] or "ok")
    assert by_file["a.jsonl"] == ["ok", "invalid JSON (Expecting property name enclosed in double quotes)"]
    assert by_file["b.parquet"][0] == "ok"  # a list-of-struct column arrives as plain messages
    assert "no assistant turn" in by_file["b.parquet"][1]
    assert by_file["d.txt"] == ["ok"]  # a text file is one plain-text record
    assert by_file["c.csv"][0].startswith("no 'text', 'prompt'/'response'") and "'question'" in by_file["c.csv"][0]


def test_column_mapping_reads_other_field_names(files, spec):
    mapped = Tokenization(**{**spec.__dict__, "columns": (("prompt", "question"), ("response", "answer"))})
    csv = [r for r in rows_of(files, mapped) if r["path"].endswith("c.csv")]
    assert csv[0]["ok"] and csv[0]["loss"].any()


def test_missing_and_unsupported_inputs_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="no such file or folder"):
        read_dataset([str(tmp_path / "nope.jsonl")], cpus=0.25)
    (tmp_path / "x.bin").write_bytes(b"\0")
    with pytest.raises(DataError, match="unsupported file type"):
        read_dataset([str(tmp_path / "x.bin")], cpus=0.25)


def test_read_rows_whole_files(files):
    assert read_rows(str(files / "b.parquet"))[0]["messages"][1]["content"] == "Das Bauen im Außenbereich."
    assert read_rows(str(files / "c.csv")) == [{"question": "Wer baut?", "answer": "Der Bauherr."}]  # empty: absent
