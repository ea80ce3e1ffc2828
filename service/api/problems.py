"""The one place where exceptions become RFC 9457 ``application/problem+json`` answers.

Every error answer has ``type``, ``title``, ``status``, ``detail`` and ``instance``, plus
``errors`` (one entry per invalid field) where fields are at fault. Our own errors map to a
status by their type; anything unexpected is logged and answered 500 with no internal text.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import (
    BodyTimeoutError,
    BodyTooLargeError,
    FieldProblem,
    InvalidParameterError,
    MalformedRequestError,
    NoFaceError,
    OverloadedError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
)
from service.errors import ServiceError
from service.faces import (
    GalleryFullError,
    GalleryUnavailableError,
    InvalidSubjectError,
    UnknownFaceError,
    UnknownSubjectError,
)
from service.pipelines.faces import FaceModelError
from service.pipelines.images import ImageDecodeError, ImageTooLargeError
from service.pipelines.registry import (
    ModelFailedError,
    ModelNotInstalledError,
    ModelNotReadyError,
    ReloadError,
    UnknownModelError,
)

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"


@dataclass(frozen=True)
class ProblemType:
    """A kind of failure: its status, a stable identifier, a short human title, and for
    passing conditions how many seconds a client should wait before retrying."""

    status: int
    slug: str
    title: str
    retry_after_s: int | None = None
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def uri(self) -> str:
        return f"urn:vision-service:problem:{self.slug}"


INTERNAL = ProblemType(500, "internal-error", "Internal server error")
INVALID_PARAMETER = ProblemType(422, "invalid-parameter", "Invalid parameter")
NOT_READY = ProblemType(503, "not-ready", "Models are not ready", retry_after_s=5)

# Lookup walks each exception's MRO, so a subclass maps like its base unless listed itself.
PROBLEM_TYPES: Mapping[type[Exception], ProblemType] = {
    MalformedRequestError: ProblemType(400, "malformed-request", "Malformed request"),
    UnauthorizedError: ProblemType(
        401,
        "unauthorized",
        "Missing or wrong API key",
        headers=(("WWW-Authenticate", 'APIKey header="X-API-Key"'),),  # 401 must carry one
    ),
    UnknownModelError: ProblemType(404, "unknown-model", "Unknown model"),
    ModelNotInstalledError: ProblemType(404, "model-not-installed", "Model not installed"),
    BodyTimeoutError: ProblemType(408, "body-timeout", "Request body too slow"),
    BodyTooLargeError: ProblemType(413, "body-too-large", "Request body too large"),
    GalleryFullError: ProblemType(507, "storage-full", "Gallery storage full"),
    # Retry-After from the error itself (a gallery still loading, a database out of reach).
    GalleryUnavailableError: ProblemType(503, "gallery-unavailable", "Face gallery unavailable"),
    UnsupportedMediaTypeError: ProblemType(415, "unsupported-media-type", "Unsupported media type"),
    ImageDecodeError: ProblemType(422, "undecodable-image", "Image cannot be decoded"),
    ImageTooLargeError: ProblemType(422, "image-too-large", "Image has too many pixels"),
    InvalidParameterError: INVALID_PARAMETER,
    NoFaceError: ProblemType(422, "no-face", "No face found"),
    FaceModelError: ProblemType(422, "unsuitable-model", "Model cannot do this"),
    InvalidSubjectError: ProblemType(422, "invalid-subject", "Invalid subject name"),
    UnknownSubjectError: ProblemType(404, "unknown-subject", "Unknown subject"),
    UnknownFaceError: ProblemType(404, "unknown-face", "Unknown face"),
    ModelNotReadyError: ProblemType(503, "model-not-ready", "Model not ready", retry_after_s=5),
    ModelFailedError: ProblemType(503, "model-failed", "Model failed to load"),  # no retrying
    ReloadError: ProblemType(422, "reload-failed", "Models folder not reloaded"),
    OverloadedError: ProblemType(503, "overloaded", "Too many requests"),  # its own Retry-After
}


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def problem_response(
    problem: ProblemType,
    detail: str,
    *,
    instance: str | None = None,
    errors: Iterable[FieldProblem] = (),
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> ProblemResponse:
    """Build the answer; ``extra`` adds RFC 9457 extension members (e.g. per-model status)."""
    body: dict[str, Any] = {
        "type": problem.uri,
        "title": problem.title,
        "status": problem.status,
        "detail": detail,
    }
    if instance is not None:
        body["instance"] = instance
    field_errors = [
        {"in": error.location, "name": error.name, "detail": error.detail} for error in errors
    ]
    if field_errors:
        body["errors"] = field_errors
    body.update(extra or {})
    all_headers = dict(problem.headers)
    if problem.retry_after_s is not None:
        all_headers["Retry-After"] = str(problem.retry_after_s)
    all_headers |= dict(headers or {})  # the error's own Retry-After, when it has one
    return ProblemResponse(body, status_code=problem.status, headers=all_headers)


def problem_for_exception(exc: Exception, instance: str | None = None) -> ProblemResponse:
    """Map any exception to its answer; unknown ones are logged and answered 500 blandly."""
    if isinstance(exc, RequestValidationError):
        return _validation_problem(exc, instance)
    if isinstance(exc, StarletteHTTPException):
        return _http_problem(exc, instance)
    problem = _problem_type_of(exc)
    if problem is None:
        logger.error("unhandled error answering %s", instance or "a request", exc_info=exc)
        return problem_response(
            INTERNAL,
            "The server failed to answer this request; the error has been logged.",
            instance=instance,
        )
    retry_after = getattr(exc, "retry_after_s", None)
    return problem_response(
        problem,
        str(exc),
        instance=instance,
        errors=getattr(exc, "errors", ()),
        headers={"Retry-After": str(retry_after)} if isinstance(retry_after, int) else None,
    )


def _problem_type_of(exc: Exception) -> ProblemType | None:
    for cls in type(exc).__mro__:
        problem = PROBLEM_TYPES.get(cls)
        if problem is not None:
            return problem
    return None


def _validation_problem(exc: RequestValidationError, instance: str | None) -> ProblemResponse:
    errors = [_field_problem(error) for error in exc.errors()]
    detail = "; ".join(f"{error.name}: {error.detail}" for error in errors)
    return problem_response(INVALID_PARAMETER, detail, instance=instance, errors=errors)


def _field_problem(error: Mapping[str, Any]) -> FieldProblem:
    """pydantic's ``loc`` is (where, name, ...); the rejected value is echoed, shortened."""
    location, *path = [str(part) for part in error.get("loc", ())] or ["request"]
    message = str(error.get("msg", "invalid"))
    if "input" in error and isinstance(error["input"], str | int | float):
        shown = repr(error["input"])
        message += f" (got {shown if len(shown) <= 60 else shown[:57] + '...'})"
    return FieldProblem(location=location, name=".".join(path) or location, detail=message)


def _http_problem(exc: StarletteHTTPException, instance: str | None) -> ProblemResponse:
    """Routing errors (404, 405) and any HTTPException a dependency raises."""
    phrase = HTTPStatus(exc.status_code).phrase
    slug = phrase.lower().replace(" ", "-").replace("'", "")
    detail = str(exc.detail)
    if exc.status_code == 404 and detail == phrase:  # the router's own "Not Found"
        detail = f"{instance or 'this path'} is not a route of this service; see /docs"
    return problem_response(
        ProblemType(exc.status_code, slug, phrase),
        detail,
        instance=instance,
        headers=exc.headers,
    )


async def _handle(request: Request, exc: Exception) -> Response:
    return problem_for_exception(exc, instance=request.url.path)


def install_problem_handlers(app: FastAPI) -> None:
    """Route FastAPI's and our exceptions through ``problem_for_exception``."""
    for exc_type in (RequestValidationError, StarletteHTTPException, ServiceError):
        app.add_exception_handler(exc_type, _handle)


class UnhandledErrorMiddleware:
    """Last line: an exception no handler took becomes a 500 problem, never a traceback."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except ClientDisconnect:  # nobody is left to answer
            return
        except Exception as exc:
            if started:  # too late for an answer: let the server drop the connection
                raise
            response = problem_for_exception(exc, instance=scope.get("path"))
            await response(scope, receive, send)
