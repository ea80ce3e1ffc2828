"""``/health/live`` and ``/health/ready``: probes for orchestrators; they need no API key."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from service.api.context import Context
from service.api.problems import NOT_READY, problem_response
from service.api.routes.responses import problem_responses
from service.api.schemas import LiveResponse, ReadyResponse

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live", response_model=LiveResponse, summary="Liveness probe")
async def live() -> LiveResponse:
    """200 while the process serves requests, whatever the models are doing."""
    return LiveResponse()


@router.get(
    "/ready",
    response_model=ReadyResponse,
    responses=problem_responses(503),
    summary="Readiness probe",
)
def ready(request: Request, context: Context) -> ReadyResponse | Response:
    """200 once every configured model is loaded and warmed; 503 with each one's status before."""
    statuses = context.models.status()
    if context.models.ready:
        return ReadyResponse(models=statuses)
    waiting = {name: status for name, status in statuses.items() if status != "ready"}
    return problem_response(
        NOT_READY,
        "not every model is ready: "
        + ", ".join(f"{name} ({status})" for name, status in waiting.items()),
        instance=request.url.path,
        extra={"models": statuses},
    )
