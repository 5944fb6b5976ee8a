"""A Llama-3-style base (no pad token, BOS in the template, <|eot_id|> closing turns) through the real job path.

Ray Data prepares the prompt/response records (completion-only loss), Ray Train fits the LoRA adapter, the
registry stores it. The adapter must have learnt to end its answers: the log-probability of <|eot_id|> after a
held-out response rises clearly over the base's, and its greedy answers stop before max_tokens more often.
"""

from __future__ import annotations

import math

import pytest
import torch

from clara_ray.records import content_hash, content_of, is_validation, normalise
from clara_ray.model.chat_format import encode_chat
from clara_ray.model.tokenizer import load_tokenizer
from clara_ray.resources import load_jsonl, qa_path
from tests.real_tokenizers import build_model

pytestmark = [pytest.mark.ray, pytest.mark.timeout(600)]
MAX_TOKENS = 160  # the bundled answers average about 90 tokens


@pytest.fixture(scope="module")
def llama3_base(tmp_path_factory):
    return str(build_model("llama3", tmp_path_factory.mktemp("llama3-base"), warm_steps=120))


def held_out(val_fraction: float) -> list[list[dict]]:
    chats = [normalise(r) for r in load_jsonl(qa_path()) if r["domain"] == "baurecht"]
    return [c for c in chats if is_validation(content_hash(content_of(c)), val_fraction)][:12]


@torch.no_grad()
def eot_logprob(model, tok, chat: list[dict]) -> float:
    """log p(<|eot_id|> | prompt + response), the decision to stop right after the answer."""
    enc = encode_chat(tok, chat)
    eot = tok.convert_tokens_to_ids("<|eot_id|>")
    cut = len(enc.ids) - 1 - enc.ids[::-1].index(eot)  # the closing token of the answer
    logits = model(input_ids=torch.tensor([enc.ids[:cut]])).logits[0, -1]
    return float(torch.log_softmax(logits.float(), -1)[eot])


@torch.no_grad()
def stops_early(model, tok, chat: list[dict]) -> bool:
    prompt = encode_chat(tok, chat[:-1], add_generation_prompt=True).ids
    out = model.generate(torch.tensor([prompt]), max_new_tokens=MAX_TOKENS, do_sample=False,
                         pad_token_id=tok.pad_token_id)
    return out.shape[1] - len(prompt) < MAX_TOKENS


def test_adapter_learns_to_end_its_answers(ray_cluster, ray_settings, llama3_base):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from clara_ray.training.pipeline import TrainingPipeline
    from clara_ray.training.spec import TrainingJobRequest

    req = TrainingJobRequest(name="llama3-style", base_model=llama3_base, data_paths=[str(qa_path())],
                             record_filter={"domain": "baurecht"}, epochs=4, learning_rate=5e-3, block_size=256,
                             lora={"r": 16, "alpha": 32, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj",
                                                                          "up_proj", "down_proj"]})
    result = TrainingPipeline(ray_settings).run("llama3-job", req)
    stats = result.data_stats
    # Prompts (system header, question, generation prompt) carry no loss: about a third of the tokens here.
    assert stats["records_rejected"] == 0 and stats["train_target_tokens"] < 0.8 * stats["train_tokens"], stats
    assert result.metrics["ppl_after"] < result.metrics["ppl_before"]

    tok = load_tokenizer(llama3_base)
    assert tok.pad_token_id == tok.eos_token_id  # the trap: pad == <|eot_id|>, which must still be learnt
    chats = held_out(ray_settings.training.val_fraction)
    assert len(chats) >= 5
    base = AutoModelForCausalLM.from_pretrained(llama3_base).eval()
    before = [eot_logprob(base, tok, c) for c in chats]
    base_stops = sum(stops_early(base, tok, c) for c in chats)
    tuned = PeftModel.from_pretrained(base, result.uri).eval()
    after = [eot_logprob(tuned, tok, c) for c in chats]
    tuned_stops = sum(stops_early(tuned, tok, c) for c in chats)

    mean_gain = sum(a - b for a, b in zip(after, before)) / len(chats)
    assert mean_gain > math.log(4), (before, after)  # p(<|eot_id|>) at least 4x higher on average
    assert sum(a > b for a, b in zip(after, before)) >= 0.8 * len(chats)
    assert tuned_stops > base_stops, (base_stops, tuned_stops, before, after)
