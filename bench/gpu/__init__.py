"""GPU checks without Ray or vLLM (`python -m bench.gpu`): LoRA bf16 vs QLoRA nf4 training on a random ~1B Llama,
and the batched multi-LoRA engine on CUDA vs naive peft vs the base model. `--smoke` runs both on the CPU, tiny."""
