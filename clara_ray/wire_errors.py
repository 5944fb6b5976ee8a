"""JSON error bodies as clients see them: CLARA's native shape on /api/*, OpenAI's shape on /v1/*."""

from __future__ import annotations

from typing import Any

OPENAI_PREFIX = "/v1/"

# OpenAI's `error.type` per HTTP status (what the official SDKs and LangChain branch on).
_OPENAI_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                 404: "invalid_request_error", 409: "invalid_request_error", 413: "invalid_request_error",
                 422: "invalid_request_error", 429: "rate_limit_error"}


def is_openai_path(path: str) -> bool:
    return path.startswith(OPENAI_PREFIX)


def openai_error(status: int, message: str, *, param: str | None = None, code: str | None = None) -> dict:
    """`{"error": {"message", "type", "param", "code"}}` as OpenAI's API answers (500+ are `server_error`)."""
    kind = _OPENAI_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_body(path: str, status: int, name: str, detail: Any, *, param: str | None = None,
               code: str | None = None, **extra: Any) -> dict:
    """The body for an error answered on `path`: native `{"error": name, "detail": detail, **extra}` or OpenAI's.

    `name`: the error class (native `error`, OpenAI `code` when none is given); `detail`: a message (OpenAI
    needs a string; a list of field errors is joined)."""
    if not is_openai_path(path):
        return {"error": name, "detail": detail, **extra}
    message = detail if isinstance(detail, str) else "; ".join(
        f"{d['field']}: {d['message']}" if d.get("field") else d["message"] for d in detail)
    return openai_error(status, message, param=param, code=code or _snake(name))


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))
