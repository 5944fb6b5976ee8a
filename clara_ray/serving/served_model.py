"""The base model as the batched engine serves it: weights on the engine's device, tokenizer, stop and pad ids,
context length and sampling defaults."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerBase

from clara_ray.model.chat_format import closing_token_ids
from clara_ray.model.tokenizer import load_tokenizer

from .model_defaults import SamplingDefaults
from .placement import engine_dtype, resolve_device


@dataclass(frozen=True)
class ServedModel:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    device: torch.device
    dtype: torch.dtype
    context_len: int
    eos_ids: frozenset[int]  # every id that ends a row
    pad_id: int
    sampling_defaults: SamplingDefaults

    @classmethod
    def load(cls, path: str | Path, *, device: str | torch.device, dtype: str | torch.dtype,
             chat_template: str | None) -> ServedModel:
        """Resolve device and dtype (ValueError naming serving.device / serving.dtype), then load the weights
        there, frozen, in eval mode."""
        dev = resolve_device(device)
        dt = engine_dtype(str(path), dtype, dev)
        tokenizer = load_tokenizer(str(path), chat_template)  # the template training used
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dt).to(dev).eval()
        model.requires_grad_(False)
        gc = model.generation_config
        eos = [gc.eos_token_id] if isinstance(gc.eos_token_id, int) else list(gc.eos_token_id or [])
        if tokenizer.eos_token_id is not None:
            eos.append(tokenizer.eos_token_id)
        return cls(
            model=model,
            tokenizer=tokenizer,
            device=dev,
            dtype=dt,
            context_len=int(getattr(model.config, "max_position_embeddings", 0) or 4096),
            eos_ids=frozenset(eos + closing_token_ids(tokenizer)),  # + the token that closes a turn
            pad_id=next(i for i in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0) if i is not None),
            sampling_defaults=SamplingDefaults.from_generation_config(gc),
        )

    def body_params(self) -> int:
        """Weights a token passes through (embeddings excluded): the forward cost model's N."""
        return sum(p.numel() for n, p in self.model.named_parameters() if "embed" not in n)
