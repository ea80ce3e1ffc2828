"""``GET /models``: every configured model, where it runs and whether it is ready."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.context import Context
from service.api.routes.responses import problem_responses
from service.api.schemas import ModelDescription, ModelsResponse

router = APIRouter(tags=["models"])


@router.get(
    "/models",
    response_model=ModelsResponse,
    responses=problem_responses(401),
    summary="List the configured models",
)
def list_models(context: Context) -> ModelsResponse:
    """Name, task, providers requested and actually used, input size, labels, thresholds."""
    return ModelsResponse(
        models=[ModelDescription.model_validate(model) for model in context.models.describe()]
    )
