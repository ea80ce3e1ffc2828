"""CompreFace's error shape, ``{"message": ..., "code": ...}``, for every failure under
``/api/v1/``, wherever it was decided (the key check, routing, a route).

Errors are still raised and mapped to problems in one place; this middleware rewrites a
problem answer to these paths. CompreFace's clients read ``code``: Double Take treats code 28
("no face found") as an empty result and throws on anything else, so the problem's type picks
CompreFace's code and, for the kinds CompreFace answers 400, its status.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Scope

from service.api.paths import is_below
from service.api.problem_rewrite import ProblemRewriteMiddleware, error_text, problem_slug

PREFIX = "/api/v1"  # the route family: CompreFace's own paths
NO_FACES_FOUND = 28  # CompreFace's CommonExceptionCode.NO_FACES_FOUND, answered 400
UNDEFINED = 0
_VALIDATION = 26  # VALIDATION_CONSTRAINT_VIOLATION

# Problem type (slug) -> CompreFace's (status, code); other kinds keep their status, code 0.
_CODES: dict[str, tuple[int, int]] = {
    "no-face": (400, NO_FACES_FOUND),
    "invalid-subject": (400, _VALIDATION),
    "invalid-parameter": (400, _VALIDATION),
    "malformed-request": (400, _VALIDATION),
    "undecodable-image": (400, 21),  # UNAVAILABLE_FILE_EXTENSION
    "image-too-large": (400, _VALIDATION),
    "unknown-subject": (404, 42),  # SUBJECT_NOT_FOUND
    "unknown-face": (404, 11),  # IMAGE_NOT_FOUND
    "unknown-model": (404, 10),  # MODEL_NOT_FOUND
}


def is_compreface_path(scope: Scope) -> bool:
    """Whether the request is for CompreFace's API, wherever the app is mounted."""
    return is_below(scope, PREFIX)


class CompreFaceErrorsMiddleware(ProblemRewriteMiddleware):
    """Problem answers on ``/api/v1/`` paths become ``{message, code}`` JSON."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app, owns=is_compreface_path, render=_render)

    def translate(self, status: int, problem_body: bytes) -> tuple[int, bytes]:
        status, code = status_and_code(status, problem_body)
        message = error_text(problem_body, status)
        return status, json.dumps({"message": message, "code": code}).encode()


def _render(status: int, detail: str) -> bytes:
    return json.dumps({"message": detail, "code": UNDEFINED}).encode()


def status_and_code(status: int, problem_body: bytes) -> tuple[int, int]:
    """CompreFace's status and code for a problem answer of ``status``."""
    slug = problem_slug(problem_body)
    if slug in _CODES:
        return _CODES[slug]
    return (400 if status == 422 else status), UNDEFINED
