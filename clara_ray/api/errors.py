"""Map domain errors to HTTP status codes with a JSON body; never a stack trace to the client."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from clara_ray.adapters.registry import InvalidReference, RegistryConflict, UnknownAdapter
from clara_ray.api.auth import PermissionDenied
from clara_ray.api.backends import BackendUnavailable
from clara_ray.training.prepare import DataError
from clara_ray.serving.engine import AdapterIncompatible, AdapterNotFound, EngineOverloaded, PromptTooLong
from clara_ray.serving.service import RequestRejected
from clara_ray.learning.loop import NothingToTrain
from clara_ray.datasets.errors import DatasetInputError, DatasetNotFound, StoreUnavailable
from clara_ray.training.job_store import IllegalTransition, JobNotFound
from clara_ray.serving.completion_log import CompletionNotFound
from clara_ray.learning.feedback_refs import InvalidFeedbackReference
from clara_ray.wire_errors import error_body, is_openai_path, openai_error

log = logging.getLogger("clara.api")

STATUS_BY_ERROR: list[tuple[type[BaseException], int]] = [
    (PermissionDenied, 403),
    (JobNotFound, 404),
    (UnknownAdapter, 404),
    (DataError, 404),  # raised at submission only for an unknown dataset
    (IllegalTransition, 409),
    (RegistryConflict, 409),
    (InvalidReference, 422),
    (NothingToTrain, 409),
    (AdapterNotFound, 404),
    (AdapterIncompatible, 409),
    (PromptTooLong, 400),
    (RequestRejected, 400),
    (EngineOverloaded, 503),
    (DatasetNotFound, 404),
    (DatasetInputError, 422),  # message starts with the offending field
    (StoreUnavailable, 503),
    (BackendUnavailable, 503),
    (CompletionNotFound, 404),  # also another caller's completion: ids of others do not leak
    (InvalidFeedbackReference, 422),  # message starts with the offending field
]


def message_of(exc: BaseException) -> str:
    # Errors from Ray actors arrive wrapped; their `cause` holds the original exception.
    cause = getattr(exc, "cause", None)
    return str(cause if cause is not None else exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__


# On /v1 (OpenAI's surface) some native statuses become what OpenAI clients expect, with `param` and `code`.
_OPENAI_OVERRIDES: dict[type[BaseException], tuple[int, str | None, str | None]] = {
    UnknownAdapter: (404, "model", "model_not_found"),
    AdapterNotFound: (404, "model", "model_not_found"),
    InvalidReference: (400, "model", "invalid_model"),
    PermissionDenied: (403, None, "permission_denied"),
    DatasetInputError: (400, None, None),
}


def _openai_override(exc: BaseException) -> tuple[int, str | None, str | None] | None:
    return next((v for t, v in _OPENAI_OVERRIDES.items() if isinstance(exc, t)), None)


def _field_errors(exc: RequestValidationError) -> list[dict]:
    out = []
    for e in exc.errors():
        field = ".".join(str(p) for p in e["loc"] if p != "body")
        msg = "not supported by this server" if e["type"] == "extra_forbidden" else \
            e["msg"].removeprefix("Value error, ")
        out.append({"field": field, "message": msg})
    return out


def install_error_handlers(app: FastAPI) -> None:
    for exc_type, status in STATUS_BY_ERROR:
        def handler(request: Request, exc: BaseException, status=status) -> JSONResponse:
            original = getattr(exc, "cause", None) or exc
            param, code = getattr(original, "param", None), None
            override = _openai_override(original) if is_openai_path(request.url.path) else None
            if override:
                status, param, code = override[0], override[1] or param, override[2]
            extra = {"missing_permission": exc.permission} if isinstance(exc, PermissionDenied) else {}
            body = error_body(request.url.path, status, type(original).__name__, message_of(exc), param=param,
                              code=code, **extra)
            return JSONResponse(body, status_code=status)

        app.add_exception_handler(exc_type, handler)

    async def validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _field_errors(exc)
        if is_openai_path(request.url.path):  # OpenAI answers 400 and names the first bad field
            return JSONResponse(openai_error(400, "; ".join(f"{e['field']}: {e['message']}" for e in errors),
                                             param=errors[0]["field"] if errors else None),
                                status_code=400)
        return JSONResponse({"error": "ValidationError", "detail": errors}, status_code=422)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body(request.url.path, 500, "InternalError", "internal error; see server logs"),
                            status_code=500)

    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(Exception, unexpected)
