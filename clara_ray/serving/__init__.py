"""Serving: engine interface and the batched multi-LoRA engine on CPU or CUDA (no Ray, no HTTP)."""

from .engine import (
    AdapterIncompatible,
    AdapterNotFound,
    Engine,
    EngineError,
    EngineOverloaded,
    GenerationRequest,
    GenerationResult,
    PromptTooLong,
)

__all__ = [
    "AdapterIncompatible",
    "AdapterNotFound",
    "BatchedEngine",
    "Engine",
    "EngineError",
    "EngineOverloaded",
    "GenerationRequest",
    "GenerationResult",
    "PromptTooLong",
]


def __getattr__(name: str):
    # BatchedEngine pulls in torch/transformers; import it lazily so the interface stays light.
    if name == "BatchedEngine":
        from .batched_engine import BatchedEngine

        return BatchedEngine
    raise AttributeError(name)
