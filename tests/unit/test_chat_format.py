"""One tokenization for train and serve on tokenizers that follow real models' conventions (Llama 3, Qwen2.5, GPT-2)."""

from __future__ import annotations

import pytest

from clara_ray.training.prepare import Tokenization, encode
from clara_ray.records import RecordError
from clara_ray.model.chat_format import (
    DEFAULT_CHAT_TEMPLATE, TemplateError, check_chat_template, closing_token_ids, encode_chat, encode_record,
    resolve_chat_template, text_prompt_ids,
)
from clara_ray.model.tokenizer import load_tokenizer
from tests.real_tokenizers import CONVENTIONS, build_tokenizer

CHAT = [{"role": "system", "content": "Antworte kurz."},
        {"role": "user", "content": "Was regelt § 35 BauGB?"},
        {"role": "assistant", "content": "Das Bauen im Außenbereich."},
        {"role": "user", "content": "Und § 34?"},
        {"role": "assistant", "content": "Den Innenbereich."}]
CLOSING = {"llama3": "<|eot_id|>", "qwen25": "<|im_end|>", "gpt2": "<|endoftext|>"}


@pytest.fixture(scope="module", params=CONVENTIONS)
def tok(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    build_tokenizer(request.param, folder)
    t = load_tokenizer(str(folder))
    t.kind = request.param
    return t


def learnt(tok, enc) -> str:
    return tok.decode([i for i, keep in zip(enc.ids, enc.loss) if keep])


def test_only_assistant_turns_and_their_closing_token_carry_loss(tok):
    enc = encode_chat(tok, CHAT)
    closing = CLOSING[tok.kind]
    assert learnt(tok, enc) == f"Das Bauen im Außenbereich.{closing}Den Innenbereich.{closing}"
    assert enc.loss[-1] or tok.decode(enc.ids[-1:]).isspace()  # nothing after the last closing token is learnt
    assert not any(enc.loss[: len(encode_chat(tok, CHAT[:2], add_generation_prompt=True).ids)])


def test_train_on_prompt_puts_every_token_in_the_loss(tok):
    assert all(encode_chat(tok, CHAT, train_on_prompt=True).loss)


def test_serve_time_ids_are_the_train_time_ids(tok):
    # What a replica is given for the conversation so far is exactly the start of the training sequence.
    train = encode_chat(tok, CHAT).ids
    for turn in (2, 4):
        served = encode_chat(tok, CHAT[:turn], add_generation_prompt=True).ids
        assert train[: len(served)] == served
        assert tok.decode(train[len(served):]).startswith(CHAT[turn]["content"])


def test_special_tokens_are_added_exactly_once(tok):
    ids = encode_chat(tok, CHAT).ids
    if tok.kind == "llama3":  # the template writes BOS and the tokenizer would add another
        assert ids.count(tok.bos_token_id) == 1 and ids[0] == tok.bos_token_id
        assert text_prompt_ids(tok, "Hallo")[:2] != [tok.bos_token_id] * 2
        assert text_prompt_ids(tok, "<|begin_of_text|>Hallo").count(tok.bos_token_id) == 1
    if tok.kind == "qwen25":
        assert tok.pad_token_id == tok.eos_token_id and tok.bos_token_id is None
    closing = tok.convert_tokens_to_ids(CLOSING[tok.kind])
    assert closing_token_ids(tok) == [closing]
    assert ids.count(closing) >= 2


def test_plain_text_learns_everything_and_ends_with_eos(tok):
    enc = encode_record(tok, "Die Baugenehmigung wurde erteilt.")
    assert all(enc.loss) and enc.ids[-1] == tok.eos_token_id


def test_a_base_without_template_gets_the_documented_default(tmp_path):
    build_tokenizer("gpt2", tmp_path)
    tok = load_tokenizer(str(tmp_path))
    assert tok.chat_template == DEFAULT_CHAT_TEMPLATE
    check_chat_template(tok)
    assert learnt(tok, encode_chat(tok, CHAT[1:3])) == "Das Bauen im Außenbereich.<|endoftext|>"


def test_configured_template_as_string_or_file(tmp_path):
    template = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{{ eos_token }}{% endfor %}"
    assert resolve_chat_template(template) == template
    (tmp_path / "t.jinja").write_text(template)
    assert resolve_chat_template(str(tmp_path / "t.jinja")) == template
    with pytest.raises(TemplateError, match="neither a Jinja template nor a readable file"):
        resolve_chat_template(str(tmp_path / "missing.jinja"))


def test_templates_that_cannot_be_trained_on_are_refused_at_start(tmp_path):
    build_tokenizer("gpt2", tmp_path)
    tok = load_tokenizer(str(tmp_path), "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}")
    with pytest.raises(TemplateError, match="does not end assistant turns with a special token"):
        check_chat_template(tok)


def test_records_the_template_refuses_are_rejected_with_the_reason(tmp_path):
    build_tokenizer("llama3", tmp_path)
    strict = ("{% for m in messages %}{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}"
              "{{ raise_exception('roles must alternate user/assistant') }}{% endif %}"
              "[{{ m['role'] }}]{{ m['content'] }}{{ eos_token }}{% endfor %}")
    spec = Tokenization(tokenizer_path=str(tmp_path), chat_template=strict, max_tokens=64)
    tok = load_tokenizer(spec.tokenizer_path, spec.chat_template)
    assert encode([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], tok, spec).ids
    with pytest.raises(RecordError, match="roles must alternate"):
        encode(CHAT, tok, spec)  # starts with a system turn
    with pytest.raises(RecordError, match=r"too many tokens \(\d+ > data.max_seq_length 64\)"):
        encode([{"role": "user", "content": "x " * 80}, {"role": "assistant", "content": "b"}], tok, spec)
