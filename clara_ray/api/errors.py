"""Map domain errors to HTTP status codes with a JSON body; never a stack trace to the client."""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from ray.exceptions import (ActorUnschedulableError, GetTimeoutError, NodeDiedError, ObjectLostError, RayActorError,
                            WorkerCrashedError)
from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError, ReplicaUnavailableError

from clara_ray.adapters.registry import InvalidReference, RegistryConflict, UnknownAdapter
from clara_ray.api.auth import PermissionDenied
from clara_ray.api.backends import BackendUnavailable
from clara_ray.training.prepare import DataError
from clara_ray.serving.engine import AdapterIncompatible, AdapterNotFound, EngineOverloaded, PromptTooLong
from clara_ray.serving.service import RequestRejected
from clara_ray.learning.loop import NothingToTrain
from clara_ray.datasets.errors import DatasetInputError, DatasetNotFound, EmbeddingModelMismatch, StoreUnavailable
from clara_ray.training.job_store import IllegalTransition, JobNotFound
from clara_ray.serving.completion_log import CompletionNotFound
from clara_ray.learning.feedback_refs import InvalidFeedbackReference
from clara_ray.learning.buffer import BufferFull
from clara_ray.server_paths import InvalidPath, PathOutsideRoots
from clara_ray.wire_errors import error_body, is_openai_path, openai_error

log = logging.getLogger("clara.api")

RETRY_AFTER_SECONDS = 5  # what a transient 503 asks the client to wait (Ray restarts a detached actor in seconds)

# A Ray actor behind a backend (learning buffer, job manager) is dead, restarting or unreachable, its answer was lost,
# or Serve has no replica to take the request: it may succeed when retried. Never an application error raised inside
# the actor (a RayTaskError is also an instance of its cause and maps as that cause).
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    RayActorError, GetTimeoutError, ActorUnschedulableError, ObjectLostError, WorkerCrashedError, NodeDiedError,
    BackPressureError, DeploymentUnavailableError, ReplicaUnavailableError)
TRANSIENT_MESSAGE = f"a backend service is restarting or overloaded; retry in {RETRY_AFTER_SECONDS} s"

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
    (EmbeddingModelMismatch, 409),  # datasets.embedding_model is not the model that built the vector index
    (BackendUnavailable, 503),
    (CompletionNotFound, 404),  # also another caller's completion: ids of others do not leak
    (InvalidFeedbackReference, 422),  # message starts with the offending field
    (PathOutsideRoots, 403),  # a client-named server path outside the configured roots; names the field
    (InvalidPath, 422),  # a malformed client-named path; names the field
    (BufferFull, 503),  # with Retry-After: nothing was stored, send it again later
    *((t, 503) for t in TRANSIENT_ERRORS),  # fixed message and Retry-After (Ray's text names pids and nodes)
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


def _is_field(part) -> bool:
    """A body field name or list index, not one of pydantic's union-branch tags (`list[float]`, `SweepRange`,
    `function-after[...]`): the request's field names are lowercase."""
    return isinstance(part, int) or (part != "body" and "[" not in part and not part[:1].isupper())


def _field_errors(exc: RequestValidationError) -> list[dict]:
    """One entry per problem, named by the client's own field path. A field typed "A or B" (a list or a range)
    fails on every branch; the branch the client did not mean only says "should be a valid list", so when another
    branch has a real complaint about that field, the wrong-type ones are left out."""
    errors = []
    for e in exc.errors():
        field = ".".join(str(p) for p in e["loc"] if _is_field(p))
        msg = "not supported by this server" if e["type"] == "extra_forbidden" else \
            e["msg"].removeprefix("Value error, ")
        errors.append((field, e["type"].endswith("_type"), msg))
    specific = {field for field, wrong_type, _ in errors if not wrong_type}
    out = []
    for field, wrong_type, msg in errors:
        entry = {"field": field, "message": msg}
        if (wrong_type and field in specific) or entry in out:
            continue
        out.append(entry)
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
            extra |= getattr(original, "detail_fields", None) or {}  # e.g. a refused version's status and reason
            if isinstance(exc, TRANSIENT_ERRORS):
                log.warning("transient backend failure on %s %s: %s", request.method, request.url.path, exc)
                body = error_body(request.url.path, 503, "ServiceRestarting", TRANSIENT_MESSAGE)
                return JSONResponse(body, status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
            body = error_body(request.url.path, status, type(original).__name__, message_of(exc), param=param,
                              code=code, **extra)
            retry_after = getattr(original, "retry_after", None)  # e.g. BufferFull: when to send it again
            return JSONResponse(body, status_code=status,
                                headers={"Retry-After": str(retry_after)} if retry_after else None)

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

    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        """Starlette's own errors (an unparsable JSON body 400, unknown route 404, 405) in this API's shapes."""
        try:
            name = HTTPStatus(exc.status_code).phrase.replace(" ", "").replace("-", "")
        except ValueError:
            name = "HttpError"
        return JSONResponse(error_body(request.url.path, exc.status_code, name, exc.detail),
                            status_code=exc.status_code, headers=exc.headers)

    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http_error)  # subclasses with handlers of their own keep them
    app.add_exception_handler(Exception, unexpected)
    _document_validation_errors(app)


# A 422 as /openapi.json documents it (FastAPI's default documents its own `{"detail": [{"loc", "msg", "type"}]}`,
# which this API never sends): the `validation` handler's field list, or a domain error's message (InvalidReference,
# DatasetInputError: the message starts with the field).
_NATIVE_VALIDATION = {
    "title": "HTTPValidationError", "type": "object", "required": ["error", "detail"],
    "properties": {"error": {"type": "string"},
                   "detail": {"anyOf": [{"type": "string"},
                                        {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}}]}}}
_FIELD_ERROR = {"title": "ValidationError", "type": "object", "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}
_OPENAI_ERROR = {"title": "OpenAIError", "type": "object", "required": ["error"],
                 "properties": {"error": {"type": "object", "required": ["message", "type"],
                                          "properties": {"message": {"type": "string"}, "type": {"type": "string"},
                                                         "param": {"type": ["string", "null"]},
                                                         "code": {"type": ["string", "null"]}}}}}


def _document_validation_errors(app: FastAPI) -> None:
    """/openapi.json documents validation errors as answered: native 422 on /api/*, OpenAI's 400 on /v1/*."""
    default_openapi = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = default_openapi()
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(HTTPValidationError=_NATIVE_VALIDATION, ValidationError=_FIELD_ERROR,
                       OpenAIError=_OPENAI_ERROR)
        for path, operations in schema.get("paths", {}).items():
            if not is_openai_path(path):
                continue
            for op in operations.values():
                responses = op.get("responses", {})
                if responses.pop("422", None) is not None:
                    responses["400"] = {"description": "Invalid request (OpenAI's error shape; `param` names the "
                                                       "field)",
                                        "content": {"application/json": {
                                            "schema": {"$ref": "#/components/schemas/OpenAIError"}}}}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi
