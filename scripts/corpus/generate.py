"""Entry point: ``python -m scripts.corpus.generate`` (from the repository root).

Writes deterministic (seed 1234) JSONL files into ``clara_ray/resources/corpus/``:
``qa.jsonl``, ``documents.jsonl`` and ``offdomain.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from scripts.corpus import (
    documents,
    offdomain,
    qa,
    vocab_baurecht,
    vocab_sozialrecht,
    vocab_steuerrecht,
    vocab_umweltrecht,
    vocab_verwaltungsverfahren,
)

SEED = 1234
VOCABS = [vocab_baurecht, vocab_umweltrecht, vocab_verwaltungsverfahren, vocab_sozialrecht, vocab_steuerrecht]
QA_PER_DOMAIN = 250
DOCS_PER_DOMAIN = 60
OFFDOMAIN_COUNT = 120
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "clara_ray" / "resources" / "corpus"


def write_jsonl(path: Path, records: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")


def build() -> dict[str, list[dict]]:
    rng = random.Random(SEED)
    qa_records: list[dict] = []
    for vocab in VOCABS:
        qa_records.extend(qa.generate_domain(rng, vocab, QA_PER_DOMAIN))
    rng.shuffle(qa_records)
    docs = documents.generate(rng, VOCABS, DOCS_PER_DOMAIN)
    off = offdomain.generate(rng, OFFDOMAIN_COUNT)
    return {"qa.jsonl": qa_records, "documents.jsonl": docs, "offdomain.jsonl": off}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, records in build().items():
        path = args.out / name
        write_jsonl(path, records)
        print(f"{path}: {len(records)} records, {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
