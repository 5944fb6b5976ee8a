"""Tokenizers built locally (no hub) that follow the conventions of the models people fine-tune, plus tiny models on them.

- llama3: no pad token; BOS added by the tokenizer's post-processor AND written by the chat template (the
  double-BOS trap); `<|eot_id|>` closes every turn and is the EOS; generation_config lists two EOS ids.
- qwen25: `<|im_start|>`/`<|im_end|>` turns; pad == eos == `<|endoftext|>`; no BOS.
- gpt2: no chat template at all; bos == eos == `<|endoftext|>`; no pad token.
The chat templates are the real models' templates, trimmed of tool calling.
"""

from __future__ import annotations

from pathlib import Path

LLAMA3_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim"
    " + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
QWEN25_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if loop.first and message['role'] != 'system' %}"
    "{{- '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{%- endif %}"
    "{{- '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}"
)
CONVENTIONS = ("llama3", "qwen25", "gpt2")


def _corpus() -> list[str]:
    from clara_ray.resources import corpus_text

    return [d for d in corpus_text().split("\n\n") if d.strip()]


def build_tokenizer(kind: str, out_dir: Path):
    """Train a byte-level BPE on the bundled corpus and dress it as `kind`; saved to `out_dir` and returned."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = {
        "llama3": ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
        "qwen25": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        "gpt2": ["<|endoftext|>"],
    }[kind]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(_corpus(), trainer=trainers.BpeTrainer(
        vocab_size=1024, special_tokens=specials, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    if kind == "llama3":
        bos = tok.token_to_id("<|begin_of_text|>")
        tok.post_processor = processors.TemplateProcessing(
            single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B",
            special_tokens=[("<|begin_of_text|>", bos)])
        fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>")
        fast.chat_template = LLAMA3_TEMPLATE
    elif kind == "qwen25":
        fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>",
                                       additional_special_tokens=["<|im_start|>", "<|im_end|>"])
        fast.chat_template = QWEN25_TEMPLATE
    else:
        fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>")
    fast.model_max_length = 1024
    fast.save_pretrained(out_dir)
    return fast


def build_model(kind: str, out_dir: Path, seed: int = 0, warm_steps: int = 0) -> Path:
    """A tiny Llama on the `kind` tokenizer (HF folder), with the model's generation_config EOS ids.

    `warm_steps` > 0 pre-trains it on the corpus as plain documents (never in chat form, so it has not seen
    the end-of-turn token in use: only fine-tuning can teach it to stop)."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    out_dir = Path(out_dir)
    tok = build_tokenizer(kind, out_dir)
    eos = [tok.convert_tokens_to_ids("<|end_of_text|>"), tok.eos_token_id] if kind == "llama3" else tok.eos_token_id
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=192, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=1024,
                      bos_token_id=tok.bos_token_id, eos_token_id=eos, tie_word_embeddings=False)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg)
    model.generation_config = GenerationConfig(bos_token_id=tok.bos_token_id, eos_token_id=eos)
    if warm_steps:
        _pretrain(model, tok, warm_steps, seed)
    model.save_pretrained(out_dir)
    return out_dir


def _pretrain(model, tok, steps: int, seed: int) -> None:
    import torch

    from clara_ray.training.packing import pack
    from clara_ray.model.chat_format import Encoded
    from clara_ray.training.loop import LoopState, make_optimizer, train_epoch

    docs = [tok(d, add_special_tokens=False)["input_ids"] for d in _corpus()]
    blocks = pack([Encoded(ids, [True] * len(ids)) for ids in docs], 128, 0)
    opt, state = make_optimizer(model, 3e-3), LoopState()
    while state.step < steps:
        train_epoch(model, opt, blocks, state, batch_size=16, grad_accum=1, total_steps=steps, peak_lr=3e-3,
                    seed=seed, device=torch.device("cpu"))
    model.eval()
