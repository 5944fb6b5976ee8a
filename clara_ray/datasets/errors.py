"""Dataset-service errors; clara_ray.api.errors maps them to HTTP status codes."""

from __future__ import annotations


class DatasetNotFound(LookupError):
    """No dataset version (or corpus document) with that id (404)."""


class DatasetInputError(ValueError):
    """A user mistake in a request or uploaded file (422); `field` names the offending input."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(f"{field}: {message}" if field and not message.startswith(f"{field}") else message)
        self.field = field


class StoreUnavailable(RuntimeError):
    """A backing store (Chroma server, Neo4j) cannot be reached (503)."""
