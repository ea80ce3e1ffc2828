"""Failures the HTTP layer itself detects; ``problems`` turns each kind into a status code.

They subclass ``ServiceError`` so one mapping covers them and every other layer's errors alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from service.errors import ServiceError


@dataclass(frozen=True)
class FieldProblem:
    """One invalid input: where it was (``query``, ``body``, ``header``), its name, and why."""

    location: str
    name: str
    detail: str


class ApiError(ServiceError):
    """An HTTP-layer failure; may name the fields at fault."""

    def __init__(self, detail: str, *, errors: Sequence[FieldProblem] = ()) -> None:
        super().__init__(detail)
        self.errors = tuple(errors)


class MalformedRequestError(ApiError):
    """The body cannot be parsed, or lacks the field the route reads (400)."""


class UnauthorizedError(ApiError):
    """The API key is missing or wrong (401)."""


class BodyTooLargeError(ApiError):
    """The body is, or streams past, ``max_body_bytes`` (413)."""


class BodyTimeoutError(ApiError):
    """The body did not arrive within ``body_timeout_s`` (408): a dribbler holds no slot."""


class UnsupportedMediaTypeError(ApiError):
    """The body's Content-Type is not one the route reads (415)."""


class InvalidParameterError(ApiError):
    """A parameter is well-formed but not acceptable, e.g. an unknown class label (422)."""


class NoFaceError(ApiError):
    """An image the route needs a face from has none the detector finds (422)."""


class OverloadedError(ApiError):
    """Every inference slot is busy and the waiting line is full (503 + ``Retry-After``)."""

    def __init__(self, detail: str, *, retry_after_s: int = 1) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s
