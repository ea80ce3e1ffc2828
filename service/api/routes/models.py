"""``GET /models``: every configured model, where it runs and whether it is ready;
``POST /models/reload``: pick up models pulled or added since start-up, without a restart."""

from __future__ import annotations

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from service.api.context import Context
from service.api.routes.responses import problem_responses
from service.api.schemas import ModelDescription, ModelsResponse

router = APIRouter(tags=["models"])


class ReloadResponse(BaseModel):
    loading: list[str] = Field(
        description="Models that started loading now (newly pulled or added); they serve once "
        "their status in GET /models is ready."
    )
    models: dict[str, str] = Field(description="Each configured model's status.")


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


@router.post(
    "/models/reload",
    response_model=ReloadResponse,
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(401, 422),
    summary="Load models pulled or added since start-up",
)
def reload_models(context: Context) -> ReloadResponse:
    """Rescans the models folder (the server also does so by itself every
    ``VISION_MODELS_WATCH_S`` seconds); new models load in the background while the others
    keep serving. 422 when a new model.toml is invalid (nothing changes then)."""
    loading = context.models.reload()
    return ReloadResponse(loading=loading, models=context.models.status())
