"""What routes declare in common for OpenAPI: error answers and the ``model`` parameter."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any

from fastapi import Query

from service.api.problems import PROBLEM_MEDIA_TYPE

PROBLEM_REF = "#/components/schemas/Problem"

ModelName = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=200,
        description="Model to use (see GET /models); default: the first one of this task.",
    ),
]


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for these statuses, each an ``application/problem+json`` Problem."""
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}}},
        }
        for status in statuses
    }


INFERENCE_ERRORS = problem_responses(400, 401, 404, 413, 415, 422, 503)
