"""Test/bench helpers: build a tiny random Llama base model and random PEFT LoRA adapters on disk."""

from __future__ import annotations

import os
import random
from pathlib import Path

# A few hundred German-ish words/sentences; enough to train a ~512-entry byte-level BPE.
_WORDS = (
    "der die das und ist nicht ein eine mit auf für über unter groß klein schön "
    "Mädchen Junge Straße Größe Bäume Häuser Brücke Käse Müller Überraschung Öl "
    "Frühstück Glück Mühle Tür Äpfel Ärger Übung Fuß Gruß weiß heiß süß "
    "Wetter Himmel Sonne Regen Schnee Wind Wolke Berg Tal Fluss See Meer Wald "
    "Katze Hund Vogel Fisch Pferd Kuh Schwein Maus Bär Löwe Fuchs Hase "
    "lernen lesen schreiben sprechen hören sehen gehen kommen machen haben sein "
    "heute morgen gestern immer manchmal niemals vielleicht sicher gern schnell "
    "Schule Arbeit Stadt Land Zug Bahnhof Flughafen Küche Zimmer Garten Fenster"
).split()


def german_corpus(n_sentences: int = 400, seed: int = 0) -> str:
    """Deterministic pseudo-German text (a few tens of KB) for tokenizer training."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n_sentences):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(4, 12))]
        lines.append(" ".join(words).capitalize() + rng.choice([".", "!", "?", ","]))
    return "\n".join(lines)


def build_tokenizer(vocab_size: int = 512):
    """Byte-level BPE (so any UTF-8 text round-trips) wrapped in PreTrainedTokenizerFast."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<pad>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(german_corpus().splitlines(), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        clean_up_tokenization_spaces=False,
    )


def build_tiny_llama(
    out_dir: str | os.PathLike,
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    intermediate_size: int = 128,
    vocab_size: int = 512,
    seed: int = 0,
    initializer_range: float = 0.05,
) -> Path:
    """Save a random LlamaForCausalLM + tokenizer with save_pretrained; returns the folder."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(vocab_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=512,
        tie_word_embeddings=False,
        # Larger than the default 0.02 so logits are peaky (no near-ties in greedy tests).
        initializer_range=initializer_range,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def build_random_lora(
    base_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    r: int = 8,
    lora_alpha: int = 16,
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj"),
    seed: int = 0,
    b_std: float = 0.2,
    use_rslora: bool = False,
) -> Path:
    """Save a PEFT LoRA adapter whose A and B are random (B != 0, so it changes outputs)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(base_dir)
    cfg = LoraConfig(
        r=r,
        lora_alpha=lora_alpha,
        target_modules=list(target_modules),
        lora_dropout=0.0,
        task_type="CAUSAL_LM",
        use_rslora=use_rslora,
    )
    model = get_peft_model(base, cfg)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_A" in name:
                p.copy_(torch.randn(p.shape, generator=gen) / p.shape[1] ** 0.5)
            elif "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * b_std)
    out = Path(out_dir)
    model.save_pretrained(out)
    return out
