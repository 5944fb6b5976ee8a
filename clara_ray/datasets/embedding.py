"""Sentence embeddings (offline all-MiniLM-L6-v2 package or a local sentence-transformers folder), normalised float32,
on sentence-transformers (torch), ONNX Runtime (embedding_onnx.py) or as distilled static token vectors
(embedding_static.py), chosen by `datasets.embedding_backend`."""

from __future__ import annotations

import functools
import threading

import numpy as np

from clara_ray.datasets.embedding_model import OFFLINE_PACKAGE, model_fingerprint, model_path


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
        self.backend = "torch"
        self.fingerprint = model_fingerprint(name)
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            out = self.model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)


BACKENDS = ("torch", "onnx", "onnx-int8", "static")


@functools.lru_cache(maxsize=4)
def shared_embedder(name: str, max_tokens: int, batch_size: int, threads: int | None = None,
                    backend: str = "torch"):
    """One model per process and configuration (Ray Data tasks and the API reuse it); `backend` as in
    `datasets.embedding_backend` (torch: sentence-transformers; onnx / onnx-int8: embedding_onnx.OnnxEmbedder;
    static: embedding_static.StaticEmbedder)."""
    if backend == "torch":
        return Embedder(name, max_tokens=max_tokens, batch_size=batch_size, threads=threads)
    if backend not in BACKENDS:
        raise ValueError(f"datasets.embedding_backend must be one of {BACKENDS}, not {backend!r}")
    if backend == "static":
        from clara_ray.datasets.embedding_static import StaticEmbedder

        return StaticEmbedder(name, max_tokens=max_tokens)
    from clara_ray.datasets.embedding_onnx import OnnxEmbedder

    return OnnxEmbedder(name, quantize=backend == "onnx-int8", max_tokens=max_tokens, batch_size=batch_size,
                        threads=threads)
