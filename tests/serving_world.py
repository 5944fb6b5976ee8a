"""An in-process serving stack for API tests: the tiny base, alias `baurecht` with two random LoRA versions (v1
active), the batched engine (on the CPU) behind ServingService, and the completion log."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from clara_ray.adapters.registry import AdapterRegistry
from clara_ray.adapters.store import AdapterStore
from clara_ray.config import ClaraSettings, load_settings
from clara_ray.db.engine import Database
from clara_ray.serving.completion_log import CompletionLog
from clara_ray.serving.batched_engine import BatchedEngine
from clara_ray.serving.local_backend import AdapterLoader, LocalBackend
from clara_ray.serving.service import ServingService
from clara_ray.serving.testing import build_random_lora
from clara_ray.training.base_model import TinyModelSpec, ensure_base_model
from clara_ray.training.pipeline import base_model_id


@dataclass
class ServingWorld:
    settings: ClaraSettings
    db: Database
    service: ServingService
    completions: CompletionLog

    def close(self) -> None:
        self.completions.close()
        self.db.dispose()


def serving_world(root: Path, *, max_new_tokens: int, max_prompt_tokens: int = 96) -> ServingWorld:
    settings = load_settings(storage={"data_dir": root}, router={"use_embeddings": False},
                             serving={"max_new_tokens": max_new_tokens, "max_prompt_tokens": max_prompt_tokens})
    base = str(ensure_base_model("tiny", root / "models", TinyModelSpec(pretrain_steps=0)))
    db = Database(settings.storage.database_url)
    reg, store = AdapterRegistry(db), AdapterStore(settings.storage.adapter_store_uri)
    for v in range(2):
        folder = build_random_lora(base, root / f"src{v}", r=8, lora_alpha=16, seed=7 + v, b_std=0.4)
        row = reg.register(name="baurecht", uri=store.put(folder, "baurecht", f"bau{v}"), version_id=f"bau{v}",
                           base_model=base_model_id(base), trainer_type="LORA", rank=8, domain="baurecht")
        if v == 0:
            reg.activate(row.id)
    engine = BatchedEngine(base, max_adapters=2, max_new_tokens=max_new_tokens, max_prompt_tokens=max_prompt_tokens)
    completions = CompletionLog(db, settings.serving.completion_log)
    loader = AdapterLoader(engine, store, root / "cache", base_model_id(base))
    service = ServingService(settings, db, LocalBackend(engine, loader), base_model_path=base,
                             completions=completions)
    return ServingWorld(settings, db, service, completions)
