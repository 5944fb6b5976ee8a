"""One tokenization for training, evaluation and serving: chat or text -> token ids, plus which ids carry loss.

A conversation is rendered once with the tokenizer's chat template and cut at the turn boundaries the
template itself produces: the text before each assistant turn (ending with the generation prompt) and the
assistant turn (ending with the template's closing token, e.g. `<|eot_id|>` or `<|im_end|>`). Each piece is
tokenised with `add_special_tokens=False`, because the template already wrote every special token. Serving
calls the same function with `add_generation_prompt=True`, so the ids a model is served are the ids it was
trained on, token for token.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# For base models that ship no template: plain-text headers, each assistant turn closed by the EOS token.
DEFAULT_CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}{{ m['content'] }}\n\n"
    "{% elif m['role'] == 'user' %}### User:\n{{ m['content'] }}\n\n"
    "{% else %}### Assistant:\n{{ m['content'] }}{{ eos_token }}\n\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}### Assistant:\n{% endif %}"
)
_PROBE = [{"role": "system", "content": "S"}, {"role": "user", "content": "U1"},
          {"role": "assistant", "content": "A1"}, {"role": "user", "content": "U2"},
          {"role": "assistant", "content": "A2"}]


class TemplateError(ValueError):
    """A conversation cannot be rendered or cut into turns with this chat template; the message says why."""


@dataclass(frozen=True)
class Encoded:
    """Token ids of one record and, per id, whether it is a training target."""

    ids: list[int]
    loss: list[bool]


def resolve_chat_template(setting: str | None) -> str | None:
    """`model.chat_template`: None, a Jinja string, or the path of a file holding one."""
    if setting is None or "{{" in setting or "{%" in setting:
        return setting
    path = Path(setting).expanduser()
    if not path.is_file():
        raise TemplateError(f"model.chat_template: {setting!r} is neither a Jinja template nor a readable file")
    return path.read_text(encoding="utf-8")


def apply_template_setting(tok, chat_template: str | None) -> None:
    """Use the configured template, else the tokenizer's own, else DEFAULT_CHAT_TEMPLATE."""
    if chat_template is not None:
        tok.chat_template = chat_template
    elif not getattr(tok, "chat_template", None):
        tok.chat_template = DEFAULT_CHAT_TEMPLATE


def _render(tok, messages: list[dict], add_generation_prompt: bool) -> str:
    try:
        return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    except Exception as e:  # jinja raises TemplateError, TypeError... for conversations it refuses
        raise TemplateError(f"chat template cannot render this conversation: {str(e)[:200]}") from None


def _pieces(tok, messages: list[dict], add_generation_prompt: bool) -> list[tuple[str, bool]]:
    """(text, is_completion) pieces whose concatenation is the full rendering."""
    full = _render(tok, messages, add_generation_prompt)
    pieces, done = [], 0
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        before = _render(tok, messages[:i], True) if i else ""
        through = _render(tok, messages[: i + 1], False)
        if not (full.startswith(before) and full.startswith(through) and done <= len(before) <= len(through)):
            raise TemplateError("the chat template does not render earlier turns as a prefix of the conversation, "
                                "so assistant turns cannot be found; use another template (model.chat_template)")
        pieces += [(full[done:len(before)], False), (full[len(before):len(through)], True)]
        done = len(through)
    pieces.append((full[done:], False))
    return [(t, c) for t, c in pieces if t]


def _ids(tok, text: str) -> list[int]:
    return list(tok(text, add_special_tokens=False)["input_ids"])


def encode_chat(tok, messages: list[dict], *, train_on_prompt: bool = False,
                add_generation_prompt: bool = False) -> Encoded:
    """Render + tokenise a conversation; assistant turns (closing token included) carry loss unless train_on_prompt."""
    special = _special_ids(tok)
    ids: list[int] = []
    loss: list[bool] = []
    for text, completion in _pieces(tok, messages, add_generation_prompt):
        piece = _ids(tok, text)
        learn = [completion or train_on_prompt] * len(piece)
        if completion and not train_on_prompt:
            # The turn is learnt up to its closing token; what a template writes after it (a newline) is never
            # generated, since serving stops on that token.
            last = max((j for j, t in enumerate(piece) if t in special), default=len(piece) - 1)
            learn = [j <= last for j in range(len(piece))]
        ids += piece
        loss += learn
    return Encoded(ids, loss)


def _special_ids(tok) -> set[int]:
    return set(tok.all_special_ids) | {i for i, t in getattr(tok, "added_tokens_decoder", {}).items()
                                       if getattr(t, "special", False)}


def adds_bos(tok) -> bool:
    """Whether the tokenizer's own convention starts a plain text with BOS (Llama does; Qwen and GPT-2 do not)."""
    bos = tok.bos_token_id
    return bos is not None and list(tok("a", add_special_tokens=True)["input_ids"][:1]) == [bos]


def text_prompt_ids(tok, text: str) -> list[int]:
    """A raw completion prompt: BOS once (if the tokenizer uses one and the text does not start with it), then text."""
    ids = _ids(tok, text)
    if adds_bos(tok) and ids[:1] != [tok.bos_token_id]:
        ids = [tok.bos_token_id] + ids
    return ids


def encode_text(tok, text: str) -> Encoded:
    """Plain text (continued pre-training): every token carries loss, closed by EOS."""
    ids = text_prompt_ids(tok, text)
    if tok.eos_token_id is not None:
        ids.append(tok.eos_token_id)
    return Encoded(ids, [True] * len(ids))


def encode_record(tok, item: list[dict] | str, *, train_on_prompt: bool = False) -> Encoded:
    """A normalised record (chat messages or plain text) as training ids and loss mask."""
    return encode_text(tok, item) if isinstance(item, str) else encode_chat(tok, item, train_on_prompt=train_on_prompt)


def closing_token_ids(tok) -> list[int]:
    """The special token(s) that close an assistant turn in this template (generation must stop on them)."""
    completion = [text for text, c in _pieces(tok, _PROBE, False) if c][-1]
    special = _special_ids(tok)
    return [i for i in _ids(tok, completion)[-3:] if i in special][-1:]


def check_chat_template(tok) -> None:
    """Fail fast, at job or replica start: the template must cut into turns and close assistant turns."""
    if not closing_token_ids(tok):
        raise TemplateError("the chat template does not end assistant turns with a special token (EOS or an "
                            "end-of-turn token), so an adapter could never learn to stop; set model.chat_template")
