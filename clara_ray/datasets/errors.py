"""Dataset-service errors; clara_ray.api.errors maps them to HTTP status codes."""

from __future__ import annotations

from clara_ray.datasets.embedding_model import STATIC_MARK


class DatasetNotFound(LookupError):
    """No dataset version (or corpus document) with that id (404)."""


class DatasetInputError(ValueError):
    """A user mistake in a request or uploaded file (422); `field` names the offending input."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(f"{field}: {message}" if field and not message.startswith(f"{field}") else message)
        self.field = field


class StoreUnavailable(RuntimeError):
    """A backing store (Chroma server, Neo4j) cannot be reached (503)."""


class EmbeddingModelMismatch(RuntimeError):
    """The configured `datasets.embedding_model` is not the model that built the vector index (409): its vectors
    would be compared with vectors of another model. Names both models."""

    def __init__(self, indexed: dict, configured: dict):
        def show(m: dict) -> str:
            dim = f", {m['embedding_dim']} dimensions" if m.get("embedding_dim") else ""
            return f"{m.get('embedding_model')!r} (fingerprint {m.get('embedding_fingerprint')}{dim})"

        model = str(indexed.get("embedding_model"))
        backend = (' with datasets.embedding_backend "static"' if model.endswith(STATIC_MARK) else
                   ' with a datasets.embedding_backend other than "static"'
                   if str(configured.get("embedding_model")).endswith(STATIC_MARK) else "")
        super().__init__(
            f"datasets.embedding_model is {show(configured)}, but the vector index was built with {show(indexed)}: "
            f"set datasets.embedding_model back to {model.removesuffix(STATIC_MARK)!r}{backend}, or re-ingest the corpus "
            f"into a new collection (datasets.collection) with the new model")
        self.indexed, self.configured = indexed, configured
