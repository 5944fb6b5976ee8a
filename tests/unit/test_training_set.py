"""A cycle's training set: feedback, replay of earlier training data (share, determinism, exclusions), search rows."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from clara_ray.adapters.registry import AdapterRegistry
from clara_ray.datasets.recordio import read_rows
from clara_ray.learning.evaluate import regression_records
from clara_ray.learning.training_set import (
    SOURCE_FIELD,
    RecordSource,
    SearchChunk,
    TrainingSetBuilder,
    batch_query,
)
from clara_ray.records import content_hash, content_of, is_validation, normalise
from clara_ray.resources import load_jsonl, qa_path

BAU = [r for r in load_jsonl(qa_path()) if r["domain"] == "baurecht"]
REGRESSION = load_jsonl(qa_path())[::25]


@dataclass
class Sample:
    """What a claimed Feedback row offers the training set."""

    prompt: str
    response: str
    correction: str | None = None


def samples(n: int, start: int = 0) -> list[Sample]:
    return [Sample(f"Frage {i}: Ist ein Carport im Außenbereich nach § 35 BauGB zulässig, Fall {i}?",
                   "Nach § 35 Abs. 2 BauGB nur, wenn öffentliche Belange nicht beeinträchtigt werden.",
                   correction=f"Korrigiert {i}: Im Außenbereich gilt § 35 BauGB; die Baugenehmigung prüft die "
                              "Bauaufsichtsbehörde.") for i in range(start, start + n)]


def with_learning(settings, **learning):
    return settings.model_copy(update={"learning": settings.learning.model_copy(update=learning)})


def h(row: dict) -> str:
    return content_hash(content_of(normalise({k: v for k, v in row.items() if k != SOURCE_FIELD})))


@pytest.fixture
def lineage(settings, db, tmp_path):
    """bau v1 trained on 120 Baurecht Q&A (plus every regression record, which must never be replayed); bau v2 a
    cycle version trained on a cycle file of its own (feedback + one replay row). Returns (registry, v2 id)."""
    curated = tmp_path / "bau.jsonl"
    curated.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in BAU[:120] + REGRESSION),
                       encoding="utf-8")
    cycle_file = tmp_path / "cycle-old.jsonl"
    old = [{"prompt": s.prompt, "response": s.correction, SOURCE_FIELD: "feedback"} for s in samples(4, 500)]
    old.append({"prompt": BAU[0]["prompt"], "response": BAU[0]["response"], SOURCE_FIELD: "replay"})
    cycle_file.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in old), encoding="utf-8")
    reg = AdapterRegistry(db)
    v1 = reg.register(name="bau", uri="/v1", base_model="tiny-x", trainer_type="LORA", rank=8, domain="baurecht",
                      dataset={"paths": [str(curated)]})
    v2 = reg.register(name="bau", uri="/v2", base_model="tiny-x", trainer_type="CONTINUOUS", rank=8,
                      domain="baurecht", parent_id=v1.id, dataset={"paths": [str(cycle_file)]})
    reg.activate(v2.id)
    return reg, v2.id, {h(r) for r in old[:4]}


def test_feedback_rows_use_the_correction_and_are_marked(settings, lineage):
    reg, vid, _ = lineage
    ts = TrainingSetBuilder(with_learning(settings, replay_fraction=0), reg).build_sync("c1", vid, samples(3))
    assert ts.counts.feedback == 3 and ts.counts.replay == 0 and ts.counts.search == 0
    assert all(r[SOURCE_FIELD] == "feedback" and r["response"].startswith("Korrigiert") for r in ts.rows)


def test_replay_share_and_determinism(settings, lineage):
    reg, vid, _ = lineage
    builder = TrainingSetBuilder(with_learning(settings, replay_fraction=0.5), reg)
    one = builder.build_sync("cycle-a", vid, samples(10))
    replayed = [r for r in one.rows if r[SOURCE_FIELD] == RecordSource.REPLAY.value]
    assert len(replayed) == one.counts.replay == 5 and one.counts.feedback == 10  # 0.5 x 10 feedback
    # The same feedback on the same version draws the same records, whatever the cycle (a reproducible cycle) ...
    assert builder.build_sync("cycle-b", vid, list(reversed(samples(10)))).rows[10:] == one.rows[10:]
    # ... and other feedback draws others.
    others = [builder.build_sync("cycle-a", vid, samples(10, start=10 * i)).rows[10:] for i in range(1, 6)]
    assert any(o != one.rows[10:] for o in others)
    assert TrainingSetBuilder(with_learning(settings, replay_fraction=0.25), reg).build_sync(
        "cycle-a", vid, samples(10)).counts.replay == 3  # 2.5 rounds half up


def test_replay_never_draws_validation_regression_or_feedback(settings, lineage):
    reg, vid, _ = lineage
    fb = samples(20)
    fb.append(Sample(BAU[5]["prompt"], BAU[5]["response"]))  # feedback equal to a curated record
    ts = TrainingSetBuilder(with_learning(settings, replay_fraction=10), reg).build_sync("c", vid, fb)
    replayed = [h(r) for r in ts.rows if r[SOURCE_FIELD] == "replay"]
    assert len(replayed) == ts.counts.replay_pool == ts.counts.replay > 30  # the whole pool fits in 10 x 21
    regression = {content_hash(content_of(r)) for r in regression_records(None)}
    val_fraction = settings.training.val_fraction
    assert not any(is_validation(x, val_fraction) for x in replayed)
    assert not set(replayed) & regression
    assert content_hash(content_of(normalise(BAU[5]))) not in replayed
    assert len(set(map(h, ts.rows))) == len(ts.rows)  # unique across sources


def test_replay_reads_the_whole_lineage(settings, lineage):
    reg, vid, earlier_feedback = lineage
    builder = TrainingSetBuilder(with_learning(settings, replay_fraction=10), reg)
    ts = builder.build_sync("c", vid, samples(30))  # 300 to draw, more than the pool holds: all of it
    replayed = {h(r) for r in ts.rows if r[SOURCE_FIELD] == "replay"}
    trainable_earlier = {x for x in earlier_feedback if not is_validation(x, settings.training.val_fraction)}
    assert trainable_earlier and trainable_earlier <= replayed  # an earlier cycle's feedback (v2's own data)
    curated = {content_hash(content_of(normalise(r))) for r in BAU[:120]}
    assert replayed & curated  # and the first version's curated data


class FakeSearch:
    def __init__(self, chunks: list[SearchChunk], fail: bool = False):
        self.chunks, self.fail, self.calls = chunks, fail, []

    def __call__(self, query: str, top_k: int, domain: str | None = None) -> list[SearchChunk]:
        self.calls.append((query, top_k, domain))
        if self.fail:
            raise ConnectionError("vector store unreachable")
        return self.chunks[:top_k]


def chunk(i: int, text: str | None = None, title: str = "Leitfaden") -> SearchChunk:
    return SearchChunk(doc_id=f"doc-{i}", chunk_id=f"doc-{i}#0", title=title,
                       text=text or f"Abschnitt {i}: Vorhaben im Außenbereich sind nach § 35 BauGB zu beurteilen.")


def test_search_augmentation_marks_dedups_and_caps(settings, lineage):
    reg, vid, _ = lineage
    fb = samples(5)
    dup_of_feedback = SearchChunk(doc_id="doc-fb", title="", text=fb[0].prompt + "\n" + fb[0].correction)
    found = [chunk(1), chunk(1), dup_of_feedback, chunk(2), chunk(3), chunk(4), chunk(5)]
    search = FakeSearch(found)
    cfg = with_learning(settings, replay_fraction=0, augment_with_search=True, augment_max_records=3)
    ts = TrainingSetBuilder(cfg, reg, search).build_sync("c", vid, fb)
    rows = [r for r in ts.rows if r[SOURCE_FIELD] == "search"]
    assert [r["doc_id"] for r in rows] == ["doc-1", "doc-2", "doc-3"]  # no repeat, no copy of feedback, capped
    assert ts.counts.search == 3 and ts.counts.feedback == 5
    assert rows[0]["text"] == "Leitfaden\n\n" + chunk(1).text  # plain text: title, blank line, chunk
    assert normalise(rows[0]) == rows[0]["text"]  # trains as plain text (the marks are ignored)
    query, top_k, domain = search.calls[0]
    assert "§ 35 BauGB" in query and top_k >= 3 and domain == "baurecht"
    assert ts.counts.search_query == query


def test_augmentation_is_off_by_default(settings, lineage):
    reg, vid, _ = lineage
    search = FakeSearch([chunk(1)])
    assert settings.learning.augment_with_search is False
    ts = TrainingSetBuilder(settings, reg, search).build_sync("c", vid, samples(4))
    assert search.calls == [] and ts.counts.search == 0 and ts.counts.search_query is None
    assert ts.counts.replay == 2  # replay is on by default: 0.5 x 4


def test_a_failing_search_leaves_the_cycle_its_feedback(settings, lineage):
    reg, vid, _ = lineage
    cfg = with_learning(settings, replay_fraction=0, augment_with_search=True)
    ts = TrainingSetBuilder(cfg, reg, FakeSearch([], fail=True)).build_sync("c", vid, samples(4))
    assert ts.counts.search == 0 and "vector store unreachable" in ts.counts.search_error
    assert len(ts.rows) == 4
    none = TrainingSetBuilder(cfg, reg, None).build_sync("c", vid, samples(4))
    assert none.counts.search_error and none.counts.search == 0


def test_written_file_is_what_training_reads(settings, lineage, tmp_path):
    reg, vid, _ = lineage
    cfg = with_learning(settings, replay_fraction=1, augment_with_search=True)
    ts = TrainingSetBuilder(cfg, reg, FakeSearch([chunk(7)])).build_sync("c", vid, samples(4))
    path = tmp_path / "out" / "c.jsonl"
    ts.write(path)
    rows = read_rows(str(path))
    assert rows == ts.rows
    kinds = {r[SOURCE_FIELD] for r in rows}
    assert kinds == {"feedback", "replay", "search"}
    for r in rows:
        normalise(r)  # every row has a shape training accepts


def test_a_cycle_file_can_go_to_an_object_store(settings, lineage):
    """`learning.data_uri` on s3:// (several nodes): written through fsspec, read back row for row."""
    import json

    import fsspec

    from tests.s3_server import s3_server

    reg, vid, _ = lineage
    ts = TrainingSetBuilder(with_learning(settings, replay_fraction=1), reg).build_sync("c", vid, samples(4))
    bucket = f"cycles-{vid[:8].lower()}"  # moto's state is per process: one bucket per test run
    with s3_server(bucket) as options:
        ts.write(f"s3://{bucket}/learning/c.jsonl", options)
        with fsspec.open(f"s3://{bucket}/learning/c.jsonl", "r", encoding="utf-8", **options) as f:
            assert [json.loads(line) for line in f] == ts.rows


def test_batch_query_puts_legal_references_first():
    q = batch_query(["Darf ich im Außenbereich nach § 35 BauGB bauen?", "Gilt § 35 BauGB auch für den Carport?",
                     "Die Baugenehmigung erteilt die Bauaufsichtsbehörde nach der Landesbauordnung."])
    assert q.startswith("§ 35 BauGB") and "Außenbereich" in q
    assert batch_query(["lorem ipsum dolor"]) == "lorem ipsum dolor"
    assert batch_query(["a b c"]) is None
