"""The backend a route needs (job manager, serving, learning loop), or a 503 that names the missing one."""

from __future__ import annotations

from starlette.requests import HTTPConnection

LABELS = {"jobs": "training job manager", "serving": "serving backend", "learning": "learning loop",
          "datasets": "dataset service", "completions": "completion log",
          "recipes": "alias recipe store"}


class BackendUnavailable(RuntimeError):
    """This API process was started without the backend a route needs (503, not a stack trace)."""


def backend(conn: HTTPConnection, name: str):
    found = getattr(conn.app.state, name, None)
    if found is None:
        raise BackendUnavailable(f"the {LABELS[name]} is not configured on this API")
    return found
