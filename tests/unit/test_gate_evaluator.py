"""The gate's criteria (every failure named with its figure, the KL forgetting budget) and the cycle evaluator
(the base model loaded once, both versions scored on every set, the same figures as scoring each alone)."""

from __future__ import annotations

import math

import pytest

from clara_ray.learning.evaluate import regression_records
from clara_ray.learning.evaluator import CycleEvaluation, EvalSets, VersionScores, evaluate_cycle
from clara_ray.learning.gate import GateCriterion, GateLimits, decide

LIMITS = GateLimits(min_improvement=0.01, max_regression=0.02, max_kl=0.05)


def ev(val=(10.0, 9.0), reg=(20.0, 20.0), kl=0.01) -> CycleEvaluation:
    return CycleEvaluation(before=VersionScores(val_ppl=val[0], regression_ppl=reg[0]),
                           after=VersionScores(val_ppl=val[1], regression_ppl=reg[1]), kl=kl,
                           validation_records=30, regression_records=50, device="cpu", seconds=0.1)


def test_gate_promotes_within_every_limit():
    d = decide(ev(), LIMITS)
    assert d.promoted and d.failures == () and "KL(active || candidate) 0.0100" in d.reason


def test_gate_lists_every_failed_criterion_with_its_figure():
    d = decide(ev(val=(10.0, 9.95), reg=(20.0, 21.0), kl=0.2), LIMITS)
    assert not d.promoted
    assert [f.code for f in d.failures] == [GateCriterion.NO_IMPROVEMENT, GateCriterion.REGRESSION,
                                            GateCriterion.FORGETTING]
    messages = {f.code: f.message for f in d.failures}
    assert "0.50%" in messages[GateCriterion.NO_IMPROVEMENT] and "1.00%" in messages[GateCriterion.NO_IMPROVEMENT]
    assert "5.00%" in messages[GateCriterion.REGRESSION] and "2.00%" in messages[GateCriterion.REGRESSION]
    assert "0.2000" in messages[GateCriterion.FORGETTING] and "0.05" in messages[GateCriterion.FORGETTING]
    assert all(f.code.value in d.reason and f.message in d.reason for f in d.failures)  # the stored reason names all


def test_forgetting_budget_rejects_even_when_perplexities_hold():
    d = decide(ev(val=(10.0, 8.0), reg=(20.0, 19.0), kl=0.06), LIMITS)
    assert not d.promoted and [f.code for f in d.failures] == [GateCriterion.FORGETTING]
    assert decide(ev(kl=0.05), LIMITS).promoted  # the budget itself is allowed


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from clara_ray.serving.testing import build_random_lora
    from clara_ray.training.base_model import TinyModelSpec, ensure_base_model

    root = tmp_path_factory.mktemp("eval")
    base = str(ensure_base_model("tiny", root / "models", TinyModelSpec(pretrain_steps=0)))
    a = str(build_random_lora(base, root / "a", r=8, lora_alpha=16, seed=1))
    c = str(build_random_lora(base, root / "c", r=8, lora_alpha=16, seed=2))
    return base, a, c


def sets() -> EvalSets:
    from clara_ray.records import normalise
    from clara_ray.resources import load_jsonl, qa_path

    bau = [normalise(r) for r in load_jsonl(qa_path()) if r["domain"] == "baurecht"][:8]
    return EvalSets(validation=bau, regression=regression_records(None)[:8])


def alone(base: str, adapter: str, records: list) -> float:
    """Perplexity of base + one adapter scored on its own (the reference the one-pass evaluator must match)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from clara_ray.model.chat_format import encode_record
    from clara_ray.model.tokenizer import load_tokenizer

    tok = load_tokenizer(base)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), adapter).eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for item in records:
            enc = encode_record(tok, item)
            ids = torch.tensor([enc.ids])
            labels = ids.masked_fill(~torch.tensor([enc.loss]), -100)
            k = int((labels[:, 1:] != -100).sum())
            total += float(model(input_ids=ids, labels=labels).loss) * k
            n += k
    return math.exp(total / n)


@pytest.mark.timeout(180)
def test_evaluator_loads_the_base_once_per_cycle_and_scores_both_versions(tiny, monkeypatch):
    from clara_ray.learning import evaluator

    base, a, c = tiny
    loads: list[str] = []
    real = evaluator.load_base
    monkeypatch.setattr(evaluator, "load_base", lambda path, device: loads.append(path) or real(path, device))
    s = sets()
    out = evaluate_cycle(base, a, c, s)
    assert loads == [base]  # one load for both versions and all sets
    assert out.validation_records == 8 and out.regression_records == 8 and out.device == "cpu"
    assert out.before.val_ppl == pytest.approx(alone(base, a, s.validation), rel=1e-4)
    assert out.after.val_ppl == pytest.approx(alone(base, c, s.validation), rel=1e-4)
    assert out.after.regression_ppl == pytest.approx(alone(base, c, s.regression), rel=1e-4)
    assert out.kl > 0.0  # two different adapters disagree

    same = evaluate_cycle(base, a, a, s)
    assert len(loads) == 2 and same.kl == pytest.approx(0.0, abs=1e-6)  # KL of a version with itself
    assert same.before == same.after


@pytest.mark.timeout(180)
def test_a_warm_base_serves_the_next_cycle_unchanged(tiny):
    """A worker that keeps the base in memory evaluates cycle after cycle on it: the adapters come out again."""
    from clara_ray.learning.evaluator import evaluate_on_base, load_base
    from clara_ray.model.tokenizer import load_tokenizer

    base, a, c = tiny
    model, tok = load_base(base, "cpu"), load_tokenizer(base)
    first = evaluate_on_base(model, tok, a, c, sets(), "cpu")
    assert not any("lora" in name for name, _ in model.named_modules())
    second = evaluate_on_base(model, tok, a, c, sets(), "cpu")
    assert (first.before, first.after) == (second.before, second.after) and first.kl == pytest.approx(second.kl)
