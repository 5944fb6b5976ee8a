"""Static sentence encoder: token vectors distilled from the configured model with model2vec, mean-pooled per text.

Distillation runs the model once over its own vocabulary (~30k single-token inputs, ~15 s on 2 CPU cores), reduces
the vectors to STATIC_DIMS with PCA and weights them by token frequency; the result is cached under
`<cache>/<model fingerprint>-<dims>/`. Embedding a text is then a table lookup and a mean: no transformer runs, so
ingest and query embedding cost microseconds per chunk instead of milliseconds (bench/bench_embed.py). The
vectors are another model's: an index built with them records its own identity (embedding_model.index_identity).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from clara_ray.datasets.embedding_model import STATIC_DIMS, encoder_cache, index_identity, model_fingerprint, model_path


def distil(name: str, *, cache: Path | None = None) -> Path:
    """Folder of the static model distilled from model `name` (distilled on first use; an existing one is reused)."""
    target = (cache or encoder_cache("static")) / f"{model_fingerprint(name)}-{STATIC_DIMS}"
    if (target / "model.safetensors").exists():
        return target
    from model2vec.distill import distill

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".distil-"))
    try:
        distill(model_name=model_path(name), pca_dims=STATIC_DIMS, device="cpu").save_pretrained(str(tmp))
        try:
            tmp.rename(target)  # atomic: a concurrent reader sees the whole folder or none
        except OSError:  # another process finished first: its folder is the same model
            if not (target / "model.safetensors").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


class StaticEmbedder:
    """Same interface as embedding.Embedder (`embed(texts) -> (n, dim)` unit vectors, `name`, `fingerprint`, `dim`)."""

    def __init__(self, name: str, *, max_tokens: int = 128, cache: Path | None = None):
        from model2vec import StaticModel

        self.folder = distil(name, cache=cache)
        self.model = StaticModel.from_pretrained(str(self.folder))
        self.name, self.fingerprint = index_identity(name, "static")
        self.backend = "static"
        self.max_tokens = max_tokens  # the same window as the transformer backends, so every backend sees one text
        self.dim = int(self.model.dim)

    def embed(self, texts: list[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = np.asarray(self.model.encode(texts, max_length=self.max_tokens, use_multiprocessing=False),
                          dtype=np.float32).reshape(len(texts), self.dim)
        return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
