"""A cycle's evaluation, once: the base model loaded one time, the active and the candidate adapter scored on every
set in one pass (validation perplexity, regression perplexity, and KL(active || candidate) on the retained-skills
set), on the GPU when the worker has one. The actor shell only chooses where it runs (actors/learning_buffer.py)."""

from __future__ import annotations

import math
import time

from pydantic import BaseModel

from clara_ray.learning.evaluate import MAX_EVAL_TOKENS, NoEvaluationData

ACTIVE, CANDIDATE = "active", "candidate"  # peft adapter names (not substrings of "lora_")


class EvalSets(BaseModel):
    """Normalised records (chat message lists or plain texts) of each set."""

    validation: list
    """The alias's validation split plus its held-out feedback (learning/evalset.py)."""
    regression: list
    """The fixed regression set; also the retained-skills set the KL divergence is measured on."""


class EvalRequest(BaseModel):
    """What the cycle asks the evaluator (adapters by URI; the shell resolves them to local folders)."""

    active_uri: str | None
    """The active version's adapter (None: the base model alone)."""
    candidate_uri: str
    sets: EvalSets


class VersionScores(BaseModel):
    val_ppl: float
    regression_ppl: float


class CycleEvaluation(BaseModel):
    before: VersionScores
    """The active version."""
    after: VersionScores
    """The candidate."""
    kl: float
    """Mean per-token KL(active || candidate) in nats over the scored tokens of the retained-skills set."""
    validation_records: int
    regression_records: int
    device: str
    seconds: float


def load_base(base_model_path: str, device: str):
    """The base model, once per evaluation (tests count the calls)."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(base_model_path).to(device)


class _Totals:
    def __init__(self) -> None:
        self.nll = {ACTIVE: 0.0, CANDIDATE: 0.0}
        self.kl, self.tokens, self.records = 0.0, 0, 0

    def ppl(self, which: str, what: str) -> float:
        if self.tokens == 0:
            raise NoEvaluationData(f"no {what} record has a token to score")
        return math.exp(self.nll[which] / self.tokens)


def evaluate_cycle(base_model_path: str, active_adapter: str | None, candidate_adapter: str, sets: EvalSets,
                   chat_template: str | None = None, device: str | None = None) -> CycleEvaluation:
    """Score the active version (or the base alone) and the candidate on every set, loading the base once.

    Records are encoded exactly as training encodes them (model/chat_format.py), each on its own; perplexity is
    over the tokens training learns (assistant turns of chats, all of plain texts)."""
    import torch

    from clara_ray.model.tokenizer import load_tokenizer

    if not sets.validation or not sets.regression:
        raise NoEvaluationData("an evaluation set is empty")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    tok = load_tokenizer(base_model_path, chat_template)
    return evaluate_on_base(load_base(base_model_path, device), tok, active_adapter, candidate_adapter, sets, device)


def evaluate_on_base(base, tok, active_adapter: str | None, candidate_adapter: str, sets: EvalSets,
                     device: str) -> CycleEvaluation:
    """`evaluate_cycle` on a base model already in memory (a warm worker's): both adapters are attached for the
    scoring and removed afterwards (peft `unload`), so the base can serve the next cycle unchanged."""
    import torch
    from peft import PeftModel

    from clara_ray.model.chat_format import TemplateError, encode_record

    t0 = time.time()
    model = PeftModel.from_pretrained(base, candidate_adapter, adapter_name=CANDIDATE)
    if active_adapter:
        model.load_adapter(active_adapter, adapter_name=ACTIVE)
    model.eval()

    def log_probs(which: str, ids):
        if which == ACTIVE and not active_adapter:
            with model.disable_adapter():
                logits = model(input_ids=ids).logits
        else:
            model.set_adapter(which)
            logits = model(input_ids=ids).logits
        return torch.log_softmax(logits[0, :-1].float(), dim=-1)

    def score(records: list, with_kl: bool) -> _Totals:
        t = _Totals()
        for item in records:
            try:
                enc = encode_record(tok, item)
            except TemplateError:
                continue
            ids = torch.tensor([enc.ids[:MAX_EVAL_TOKENS]], device=device)
            mask = torch.tensor(enc.loss[:MAX_EVAL_TOKENS][1:], device=device)
            k = int(mask.sum())
            if k == 0:
                continue
            targets = ids[0, 1:][mask]
            lp = {w: log_probs(w, ids)[mask] for w in (ACTIVE, CANDIDATE)}
            for w in (ACTIVE, CANDIDATE):
                t.nll[w] -= float(lp[w].gather(1, targets[:, None]).sum())
            if with_kl:
                p = lp[ACTIVE].exp()
                t.kl += float((p * (lp[ACTIVE] - lp[CANDIDATE])).sum())
            t.tokens += k
            t.records += 1
        return t

    with torch.no_grad():
        val, reg = score(sets.validation, False), score(sets.regression, True)
    model.unload()  # the LoRA layers out again: `base` is the plain model it was
    return CycleEvaluation(
        before=VersionScores(val_ppl=val.ppl(ACTIVE, "validation"), regression_ppl=reg.ppl(ACTIVE, "regression")),
        after=VersionScores(val_ppl=val.ppl(CANDIDATE, "validation"),
                            regression_ppl=reg.ppl(CANDIDATE, "regression")),
        kl=reg.kl / reg.tokens, validation_records=val.records, regression_records=reg.records, device=device,
        seconds=time.time() - t0)


def evaluate_request(settings, req: EvalRequest) -> CycleEvaluation:
    """`evaluate_cycle` for a cycle's request: adapter URIs resolved to local folders (downloaded to the adapter
    cache when remote), the configured base model and chat template. Runs wherever the shell places it."""
    from clara_ray.adapters.store import AdapterStore
    from clara_ray.model.chat_format import resolve_chat_template
    from clara_ray.training.pipeline import base_model_path

    store = AdapterStore.for_storage(settings.storage)
    cache = settings.storage.data_dir / "adapter-cache"
    active = str(store.local_path(req.active_uri, cache)) if req.active_uri else None
    return evaluate_cycle(base_model_path(settings), active, str(store.local_path(req.candidate_uri, cache)),
                          req.sets, resolve_chat_template(settings.model.chat_template))
