"""Base models: the bundled tiny model (built here, next to the training loop that warm-starts it) and configured ones.

Tiny local base model: byte-level BPE tokenizer trained on the bundled corpus + random-init Llama, as an HF folder.

No model hub is reachable here, so CPU work (tests, demo, benchmarks) uses this model. It is
deterministic: the same spec and corpus give byte-identical files, cached under a content hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

SPECIAL_TOKENS = ["<|begin_of_text|>", "<|end_of_text|>", "<|pad|>", "<|system|>", "<|user|>", "<|assistant|>"]
# Turns are `<|role|>content<|end_of_text|>`; a generation prompt ends with `<|assistant|>`.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{{ eos_token }}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


@dataclass(frozen=True)
class TinyModelSpec:
    vocab_size: int = 2048
    """BPE vocabulary size, special tokens included."""
    hidden_size: int = 64
    """Model width."""
    intermediate_size: int = 192
    """MLP width (3x hidden; a multiple of 64 so bitsandbytes' CPU 4-bit kernels accept every layer)."""
    num_layers: int = 2
    """Decoder layers."""
    num_heads: int = 4
    """Attention heads."""
    num_kv_heads: int = 4
    """Key/value heads (< num_heads: grouped-query attention)."""
    max_position: int = 1024
    """Longest sequence (RoPE positions)."""
    seed: int = 0
    """Seed of the random initialisation."""
    pretrain_steps: int = 150
    """Full-parameter steps on the corpus after init (0 = purely random). A random lm_head keeps logits
    near uniform, so adapters could barely move perplexity; a short warm start gives them room."""

    def __post_init__(self):
        for name in ("vocab_size", "hidden_size", "intermediate_size", "num_layers", "num_heads", "num_kv_heads",
                     "max_position"):
            if getattr(self, name) <= 0:
                raise ValueError(f"TinyModelSpec.{name} must be positive, got {getattr(self, name)}")
        if self.hidden_size % self.num_heads:
            raise ValueError("TinyModelSpec.hidden_size must be divisible by num_heads")
        if self.num_heads % self.num_kv_heads:
            raise ValueError("TinyModelSpec.num_kv_heads must divide num_heads")
        if self.pretrain_steps < 0:
            raise ValueError("TinyModelSpec.pretrain_steps must be >= 0")
        if self.vocab_size < 300:
            raise ValueError("TinyModelSpec.vocab_size must be >= 300 (256 bytes + specials + merges)")


def _train_tokenizer(text: str, spec: TinyModelSpec):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=spec.vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(text.split("\n\n"), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|begin_of_text|>", eos_token="<|end_of_text|>",
                                   pad_token="<|pad|>", model_max_length=spec.max_position)
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_base_model(out_dir: Path, spec: TinyModelSpec, text: str | None = None) -> Path:
    """Write tokenizer + random-init LlamaForCausalLM to `out_dir` (HF folder, safetensors)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from clara_ray.resources import corpus_text

    text = corpus_text() if text is None else text
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tok = _train_tokenizer(text, spec)
    cfg = LlamaConfig(
        vocab_size=len(tok), hidden_size=spec.hidden_size, intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers, num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_kv_heads, max_position_embeddings=spec.max_position,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(spec.seed)
    model = LlamaForCausalLM(cfg)
    if spec.pretrain_steps:
        _warm_start(model, tok, text, spec)
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    (out_dir / "clara_model.json").write_text(json.dumps({"spec": asdict(spec), "hash": spec_hash(spec, text)},
                                                         indent=2, sort_keys=True))
    return out_dir


def _warm_start(model, tok, text: str, spec: TinyModelSpec) -> None:
    """A few hundred full-parameter steps on the corpus; single-threaded so the weights are reproducible."""
    import torch

    from clara_ray.training.packing import pack
    from clara_ray.model.chat_format import Encoded
    from clara_ray.training.loop import LoopState, make_optimizer, train_epoch

    docs = [d for d in text.split("\n\n") if d.strip()]
    ids = [tok(d + tok.eos_token, add_special_tokens=False)["input_ids"] for d in docs]
    blocks = pack([Encoded(i, [True] * len(i)) for i in ids], 128, tok.pad_token_id)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        opt = make_optimizer(model, 3e-3)
        state = LoopState()
        while state.step < spec.pretrain_steps:
            train_epoch(model, opt, blocks, state, batch_size=16, grad_accum=1, total_steps=spec.pretrain_steps,
                        peak_lr=3e-3, seed=spec.seed, device=torch.device("cpu"))
    finally:
        torch.set_num_threads(threads)
    model.eval()


BUILD_VERSION = 2  # bump when the build itself changes (v2: warm start on packed records kept apart)


def spec_hash(spec: TinyModelSpec, text: str) -> str:
    h = hashlib.sha256(json.dumps({**asdict(spec), "build": BUILD_VERSION}, sort_keys=True).encode())
    h.update(text.encode("utf-8"))
    return h.hexdigest()[:16]


def ensure_base_model(name_or_path: str, cache_dir: Path, spec: TinyModelSpec | None = None) -> Path | str:
    """"tiny" -> build (once) into the cache; an existing local HF folder -> itself; anything else -> a hub id."""
    if name_or_path == "tiny":
        from clara_ray.resources import corpus_text

        spec = spec or TinyModelSpec()
        text = corpus_text()
        target = Path(cache_dir) / f"tiny-{spec_hash(spec, text)}"
        if (target / "clara_model.json").is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        # Build aside, then rename: concurrent builders never expose half a model.
        tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=target.parent))
        try:
            build_tiny_base_model(tmp, spec, text)
            try:
                os.rename(tmp, target)
            except OSError:  # another process won the race; its model is identical
                pass
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return target
    p = Path(name_or_path).expanduser()
    if (p / "config.json").is_file():
        return p.resolve()
    return name_or_path
