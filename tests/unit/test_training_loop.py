"""Packing that keeps records apart, the masked loss, and the training loop's pieces (no Ray)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from clara_ray.training.packing import pack
from clara_ray.model.chat_format import Encoded, encode_chat
from clara_ray.model.tokenizer import load_tokenizer
from clara_ray.training.loop import LoopState, evaluate, lm_loss, lr_at, make_optimizer, steps_per_epoch, \
    to_tensors, train_epoch
from tests.real_tokenizers import build_model

QA = [("Was regelt § 35 BauGB?", "Das Bauen im Außenbereich."), ("Was regelt § 34 BauGB?", "Den Innenbereich."),
      ("Wer erteilt die Baugenehmigung?", "Die untere Bauaufsichtsbehörde."),
      ("Was ist ein Bebauungsplan?", "Eine Satzung der Gemeinde.")]


@pytest.fixture(scope="module")
def llama3(tmp_path_factory):
    from transformers import AutoModelForCausalLM

    folder = build_model("llama3", tmp_path_factory.mktemp("llama3"))
    return AutoModelForCausalLM.from_pretrained(folder).eval(), load_tokenizer(str(folder))


def chats(tok) -> list[Encoded]:
    return [encode_chat(tok, [{"role": "user", "content": q}, {"role": "assistant", "content": a}]) for q, a in QA]


def test_pack_restarts_positions_and_masks_record_starts_and_padding():
    blocks = pack([Encoded([1, 2, 3], [True] * 3), Encoded([4, 5, 6, 7, 8], [False, False, True, True, True])], 4, 0)
    assert blocks.ids.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert blocks.pos.tolist() == [[0, 1, 2, 0], [1, 2, 3, 4]]  # the second record runs on into block 2
    assert blocks.loss.tolist() == [[False, True, True, False], [False, True, True, True]]
    tail = pack([Encoded([1, 2], [True, True])], 4, 9)
    assert tail.ids.tolist() == [[1, 2, 9, 9]] and tail.loss.tolist() == [[False, True, False, False]]
    assert len(pack([], 4, 0)) == 0


def test_packed_records_do_not_attend_to_each_other(llama3):
    # The loss of a block holding several records equals the token-weighted losses of each record alone.
    model, tok = llama3
    records = chats(tok)
    packed = pack(records, sum(len(r.ids) for r in records), tok.pad_token_id)
    with torch.no_grad():
        loss, n = lm_loss(model, to_tensors(packed))
        alone = [lm_loss(model, to_tensors(pack([r], len(r.ids), tok.pad_token_id))) for r in records]
    assert n == sum(k for _, k in alone)
    assert float(loss) == pytest.approx(sum(float(x) * k for x, k in alone) / n, rel=1e-4)


def test_eos_shared_with_pad_is_still_learnt(llama3):
    # Llama 3 has no pad token, so pad == <|eot_id|> == the closing token: the mask, not the id, decides.
    model, tok = llama3
    assert tok.pad_token_id == tok.eos_token_id
    blocks = pack(chats(tok), 64, tok.pad_token_id)
    targets = blocks.ids[blocks.loss]
    assert (targets == tok.eos_token_id).sum() == len(QA)  # one closing token per record, none of the padding


def test_lr_schedule_and_steps_per_epoch():
    assert lr_at(0, 100, 1.0, 10) == pytest.approx(0.1)
    assert lr_at(9, 100, 1.0, 10) == pytest.approx(1.0)
    assert lr_at(100, 100, 1.0, 10) == pytest.approx(0.1)
    assert 0.1 < lr_at(55, 100, 1.0, 10) < 1.0
    assert steps_per_epoch(10, 4, 1, 1) == 3
    assert steps_per_epoch(10, 4, 1, 2) == 2  # 5 blocks per rank -> 2 micro-batches
    assert steps_per_epoch(10, 4, 2, 1) == 1
    assert steps_per_epoch(1, 8, 4, 1) == 1  # never zero


def test_train_epoch_learns_the_completion_and_resumes_in_place(llama3):
    from peft import LoraConfig, get_peft_model

    base, tok = llama3
    torch.manual_seed(0)
    model = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"],
                                            task_type="CAUSAL_LM"))
    blocks = pack(chats(tok) * 4, 32, tok.pad_token_id)
    before, n = evaluate(model, blocks, 4, torch.device("cpu"))
    opt = make_optimizer(model, 1e-2)
    state, seen = LoopState(), []
    train_epoch(model, opt, blocks, state, batch_size=2, grad_accum=1, total_steps=3, peak_lr=1e-2, seed=0,
                device=torch.device("cpu"), on_step=seen.append)
    assert state.step == 3 and state.batch_in_epoch == 3 and [m["step"] for m in seen] == [1, 2, 3]
    while state.step < 40:
        train_epoch(model, opt, blocks, state, batch_size=2, grad_accum=1, total_steps=40, peak_lr=1e-2, seed=0,
                    device=torch.device("cpu"))
    after, _ = evaluate(model, blocks, 4, torch.device("cpu"))
    assert math.exp(after / n) < 0.8 * math.exp(before / n)  # a random base: LoRA moves it, slowly
    model.unload()


def test_prompt_only_batches_give_zero_loss_with_a_graph(llama3):
    model, tok = llama3
    ids = np.asarray([encode_chat(tok, [{"role": "user", "content": "x"}], add_generation_prompt=True).ids])
    batch = (torch.from_numpy(ids), torch.zeros(ids.shape, dtype=torch.bool), torch.arange(ids.shape[1])[None])
    loss, n = lm_loss(model, batch)
    assert n == 0 and float(loss) == 0.0
