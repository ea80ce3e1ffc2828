"""What the compat routes declare in common: DeepStack's JSON errors, not problem+json."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any, TypeVar

from fastapi import APIRouter
from pydantic import BaseModel

from service.api.compat.answers import DeepStackError

DEEPSTACK_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": DeepStackError, "description": HTTPStatus(status).phrase}
    for status in (400, 401, 404, 413, 415, 422, 503)
}

F = TypeVar("F", bound=Callable[..., Any])


def deepstack_post(
    router: APIRouter, path: str, answer: type[BaseModel], summary: str
) -> Callable[[F], F]:
    """``router.post`` with the answer model and DeepStack's error answers documented."""
    return router.post(path, response_model=answer, responses=DEEPSTACK_ERRORS, summary=summary)
