"""Feedback that must not train: off-domain and random text (domain relevance to the alias's own data), prompts of
evaluation records; and the held-out share that grows the alias's evaluation set and is never claimed by a cycle."""

from __future__ import annotations

import json

import pytest

from clara_ray.adapters.registry import AdapterRegistry
from clara_ray.learning.buffer import LearningBuffer
from clara_ray.learning.evalset import EVAL_HOLDOUT, gate_validation_set
from clara_ray.learning.evaluate import regression_records, validation_records
from clara_ray.learning.feedback import FeedbackIn, FeedbackStatus
from clara_ray.resources import load_jsonl, offdomain_path, qa_path


def learning(settings, **kw):
    return settings.model_copy(update={"learning": settings.learning.model_copy(update=kw)})


def bau() -> list[dict]:
    return [r for r in load_jsonl(qa_path()) if r["domain"] == "baurecht"]


@pytest.fixture
def alias(settings, db):
    """A German building-law alias trained from 170 Baurecht records (its data: the relevance reference)."""
    data = settings.storage.data_dir / "bau-initial.jsonl"
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in bau()[:170]), encoding="utf-8")
    reg = AdapterRegistry(db)
    v = reg.register(name="bau", uri="/bau/1", base_model="tiny", trainer_type="LORA", rank=8, domain="baurecht",
                     description="Baurecht: BauGB, Baugenehmigung", dataset={"paths": [str(data)]})
    reg.activate(v.id)
    return v


def item(r: dict, **kw) -> FeedbackIn:
    return FeedbackIn(**{"prompt": r["prompt"], "response": r["response"], "rating": 1.0, "adapter": "bau", **kw})


def is_random(prompt: str) -> bool:
    """Random characters (not the repeated-token spam, which the repetition check refuses first)."""
    words = prompt.split()
    return sum(not (ch.isalnum() or ch.isspace()) for ch in prompt) / len(prompt) > 0.15 and len(set(words)) == len(words)


@pytest.mark.timeout(180)
def test_random_letters_and_english_marketing_are_refused_in_domain_text_is_taken(settings, db, alias):
    buf = LearningBuffer(learning(settings, eval_holdout_fraction=0.0), db)  # default min_relevance
    off = load_jsonl(offdomain_path())
    random_letters = [r for r in off if is_random(r["prompt"])][:8]
    marketing = [r for r in off if r["prompt"].startswith(("What is the best", "Tell me", "Any special"))][:8]
    good = bau()[210:218]  # not in the alias's data, not evaluation records
    assert len(random_letters) == len(marketing) == 8
    res = buf.add([item(r) for r in random_letters + marketing + good], {"bau"})
    bad, ok = res[:16], res[16:]
    assert all(r.status == FeedbackStatus.REJECTED and r.reason.startswith("off-domain: relevance") for r in bad), bad
    assert all("below learning.min_relevance" in r.reason for r in bad)  # with its figure and the limit
    assert {r.reason_code.value for r in bad} == {"off_domain"}
    assert all(r.status == FeedbackStatus.QUEUED for r in ok), ok
    assert buf.stats()["pending"] == {"bau": 8}


@pytest.mark.timeout(120)
def test_feedback_matching_an_evaluation_record_never_enters_training(settings, db, alias):
    buf = LearningBuffer(learning(settings, eval_holdout_fraction=0.0, min_relevance=None), db)
    reg = AdapterRegistry(db)
    val = validation_records(reg, alias.id, settings.training.val_fraction)[0]
    val_prompt = next(m["content"] for m in val if m["role"] == "user")
    reg_prompt = next(m["content"] for m in regression_records(None)[0] if m["role"] == "user")
    res = buf.add([
        FeedbackIn(prompt=val_prompt, response="Eine andere, sehr ausführliche Antwort zum Bauplanungsrecht.",
                   rating=1.0, adapter="bau"),
        FeedbackIn(prompt="  " + reg_prompt.upper() + " ", response="Noch eine ausführliche Antwort dazu, bitte.",
                   rating=1.0, adapter="bau"),  # case and spacing do not hide it
        item(bau()[212])], {"bau"})
    assert [r.status for r in res] == [FeedbackStatus.REJECTED, FeedbackStatus.REJECTED, FeedbackStatus.QUEUED]
    assert all("evaluation record" in r.reason for r in res[:2])
    assert buf.stats()["pending_total"] == 1


@pytest.mark.timeout(120)
def test_held_out_share_is_evaluated_and_never_claimed(settings, db, alias):
    cfg = learning(settings, eval_holdout_fraction=0.5, min_relevance=None)
    buf = LearningBuffer(cfg, db)
    samples = [FeedbackIn(prompt=f"Frage {i}: Brauche ich für den Anbau Nummer {i} eine Baugenehmigung?",
                          response=f"Für den Anbau {i} ist nach der Landesbauordnung meist eine Genehmigung nötig.",
                          rating=1.0, adapter="bau") for i in range(60)]
    res = buf.add(samples, {"bau"})
    held = {r.id for r in res if r.status == FeedbackStatus.HELD_OUT}
    queued = {r.id for r in res if r.status == FeedbackStatus.QUEUED}
    assert all(r.accepted for r in res) and len(held) + len(queued) == 60
    assert 15 <= len(held) <= 45  # a fixed share by content hash, not all or nothing
    assert buf.stats()["held_out_total"] == len(held) and buf.stats()["pending_total"] == len(queued)
    again = LearningBuffer(cfg, db)  # a restart: held-out samples are not pending
    assert again.stats()["pending_total"] == len(queued)
    claimed = {r.id for r in again.claim("bau", "cycle-1", 1000)}
    assert claimed == queued and not claimed & held
    assert buf.add([samples[next(i for i, r in enumerate(res) if r.id in held)]], {"bau"})[0].reason.startswith(
        "duplicate")  # a held-out sample sent again is not trained either
    records, n_held = gate_validation_set(AdapterRegistry(db), db, "bau", alias.id,
                                          settings.training.val_fraction, cfg.learning.max_eval_records)
    n_val = len(validation_records(AdapterRegistry(db), alias.id, settings.training.val_fraction))
    assert n_held == len(held) and len(records) == n_val + len(held)  # the gate scores the grown set
    with db.session() as s:
        from sqlalchemy import select

        from clara_ray.db.tables import Feedback

        marks = dict(s.execute(select(Feedback.id, Feedback.cycle_id)).tuples().all())
    assert {marks[i] for i in held} == {EVAL_HOLDOUT}
