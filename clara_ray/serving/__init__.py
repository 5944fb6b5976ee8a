"""Serving: engine interface and the CPU multi-LoRA engine (no Ray, no HTTP)."""

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
    "CpuEngine",
    "Engine",
    "EngineError",
    "EngineOverloaded",
    "GenerationRequest",
    "GenerationResult",
    "PromptTooLong",
]


def __getattr__(name: str):
    # CpuEngine pulls in torch/transformers; import it lazily so the interface stays light.
    if name == "CpuEngine":
        from .cpu_engine import CpuEngine

        return CpuEngine
    raise AttributeError(name)
