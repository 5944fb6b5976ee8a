"""Build the trainable model for a plan: LoRA on a full-precision base, QLoRA on a 4/8-bit base, or continue an adapter."""

from __future__ import annotations

import torch

from clara_ray.training.spec import TrainerType, TrainPlan


def build_model(plan: TrainPlan, device: torch.device):
    """Return a peft model whose only trainable parameters are the LoRA matrices."""
    from peft import prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM

    torch.manual_seed(plan.seed)  # same LoRA init on every rank and every retry
    kwargs: dict = {}
    if plan.trainer_type == TrainerType.QLORA:
        from transformers import BitsAndBytesConfig

        if plan.qlora_bits == 4:
            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type=plan.qlora_quant_type,
                bnb_4bit_use_double_quant=plan.qlora_double_quant,
                bnb_4bit_compute_dtype=torch.bfloat16 if device.type == "cuda" else torch.float32,
            )
        else:
            kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
        kwargs["device_map"] = {"": device.index or 0} if device.type == "cuda" else {"": "cpu"}
    elif device.type == "cuda":
        kwargs["dtype"] = torch.bfloat16
    base = AutoModelForCausalLM.from_pretrained(plan.base_model_path, **kwargs)
    if plan.trainer_type == TrainerType.QLORA:
        # Casts norms to fp32 and enables input grads so LoRA trains through the frozen 4-bit layers.
        base = prepare_model_for_kbit_training(base, use_gradient_checkpointing=False)
    elif device.type == "cuda":
        base = base.to(device)
    return wrap_base(plan, base)


def wrap_base(plan: TrainPlan, base):
    """LoRA layers for `plan` on a loaded base (in place; a warm worker's held base too, whose caller takes them
    out again with peft's `unload()`): a fresh adapter seeded with `plan.seed`, or the parent's for CONTINUOUS."""
    from peft import LoraConfig, PeftModel, get_peft_model

    torch.manual_seed(plan.seed)  # the LoRA init depends only on the plan, however the base was loaded
    if plan.trainer_type == TrainerType.CONTINUOUS:
        if not plan.parent_adapter_path:
            raise ValueError("CONTINUOUS training needs a parent adapter")
        model = PeftModel.from_pretrained(base, plan.parent_adapter_path, is_trainable=True)
    else:
        cfg = LoraConfig(
            r=plan.r,
            lora_alpha=plan.alpha,
            lora_dropout=plan.dropout,
            target_modules=plan.target_modules,
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(base, cfg)
    return model


def load_base(base_model_path: str, device: torch.device):
    """A full-precision base as `build_model` loads it for LORA/CONTINUOUS (bf16 on CUDA), for a worker to hold."""
    from transformers import AutoModelForCausalLM

    kwargs = {"dtype": torch.bfloat16} if device.type == "cuda" else {}
    return AutoModelForCausalLM.from_pretrained(base_model_path, **kwargs).to(device)
