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
]


def message_of(exc: BaseException) -> str:
    # Errors from Ray actors arrive wrapped; their `cause` holds the original exception.
    cause = getattr(exc, "cause", None)
    return str(cause if cause is not None else exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__


def install_error_handlers(app: FastAPI) -> None:
    for exc_type, status in STATUS_BY_ERROR:
        def handler(request: Request, exc: BaseException, status=status) -> JSONResponse:
            body = {"error": type(getattr(exc, "cause", None) or exc).__name__, "detail": message_of(exc)}
            if isinstance(exc, PermissionDenied):
                body["missing_permission"] = exc.permission
            return JSONResponse(body, status_code=status)

        app.add_exception_handler(exc_type, handler)

    async def validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": ".".join(str(p) for p in e["loc"] if p != "body"), "message": e["msg"]}
                  for e in exc.errors()]
        return JSONResponse({"error": "ValidationError", "detail": errors}, status_code=422)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"error": "InternalError", "detail": "internal error; see server logs"}, status_code=500)

    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(Exception, unexpected)
