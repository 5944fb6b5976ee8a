"""Tiny base model: builds from the bundled corpus, reloads offline, chat template, determinism, caching."""

import hashlib

import pytest
import torch

from clara_ray.model.tokenizer import load_tokenizer
from clara_ray.training.base_model import TinyModelSpec, build_tiny_base_model, ensure_base_model

TEXT = "\n\n".join(f"Die Baugenehmigung nach § {i} BauGB für das Grundstück Nr. {i} wurde erteilt. Größe: {i} m²."
                   for i in range(300))


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.mark.timeout(120)
def test_build_reload_generate_and_chat_template(tmp_path):
    from transformers import AutoModelForCausalLM

    out = build_tiny_base_model(tmp_path / "m", TinyModelSpec(vocab_size=400, pretrain_steps=0), TEXT)
    model = AutoModelForCausalLM.from_pretrained(out)
    tok = load_tokenizer(out)
    assert model.config.model_type == "llama" and model.config.hidden_size == 64
    prompt = tok.apply_chat_template([{"role": "user", "content": "Was gilt für § 35?"}],
                                     add_generation_prompt=True, tokenize=False)
    assert prompt.endswith("<|assistant|>") and "<|user|>Was gilt für § 35?" in prompt
    ids = tok(prompt, add_special_tokens=False, return_tensors="pt")
    gen = model.generate(**ids, max_new_tokens=4, do_sample=False)
    assert gen.shape[1] == ids["input_ids"].shape[1] + 4
    assert tok.decode(tok("Straße, Größe, Gebühr")["input_ids"]) == "Straße, Größe, Gebühr"


@pytest.mark.timeout(120)
def test_deterministic_builds(tmp_path):
    spec = TinyModelSpec(vocab_size=400, seed=7, pretrain_steps=5)
    a = build_tiny_base_model(tmp_path / "a", spec, TEXT)
    b = build_tiny_base_model(tmp_path / "b", spec, TEXT)
    assert digest(a) == digest(b)
    c = build_tiny_base_model(tmp_path / "c", TinyModelSpec(vocab_size=400, seed=8, pretrain_steps=5), TEXT)
    assert digest(c)["model.safetensors"] != digest(a)["model.safetensors"]


@pytest.mark.timeout(120)
def test_ensure_caches_and_accepts_local_folders(tmp_path):
    spec = TinyModelSpec(pretrain_steps=0)
    first = ensure_base_model("tiny", tmp_path / "cache", spec)
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    assert ensure_base_model("tiny", tmp_path / "cache", spec) == first
    assert (first / "model.safetensors").stat().st_mtime_ns == stamp  # not rebuilt
    assert ensure_base_model(str(first), tmp_path / "other") == first  # a local HF folder is used as is
    assert ensure_base_model("meta-llama/Llama-3.2-1B", tmp_path) == "meta-llama/Llama-3.2-1B"  # hub id passes through
    torch.manual_seed(0)


@pytest.mark.parametrize("kwargs,field", [({"hidden_size": 66}, "hidden_size"), ({"num_layers": 0}, "num_layers"),
                                          ({"num_kv_heads": 3}, "num_kv_heads"), ({"vocab_size": 100}, "vocab_size"), ({"pretrain_steps": -1}, "pretrain_steps")])
def test_invalid_spec_names_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        TinyModelSpec(**kwargs)
