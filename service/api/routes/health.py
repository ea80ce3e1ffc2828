"""``/health/live`` and ``/health/ready``: probes for orchestrators; they need no API key.

Being open, readiness must not leak what only keyed callers may see: with ``VISION_API_KEY``
set, a caller without the key gets each model's status word (``error``, not the onnxruntime
message with the model's absolute path); the details stay in ``GET /models`` and the log.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response

from service.api.context import AppContext, Context
from service.api.limits import API_KEY_HEADER
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
    """200 once every configured model is loaded and warmed and the face gallery is loaded
    (and its PostgreSQL database reachable); 503 with the reason before."""
    statuses = context.models.status()
    if not _may_see_details(request, context):
        statuses = {name: status_word(status) for name, status in statuses.items()}
    gallery_down = _gallery_unready(request, context)
    if gallery_down is not None:
        return problem_response(
            NOT_READY, gallery_down, instance=request.url.path, extra={"models": statuses}
        )
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


def _gallery_unready(request: Request, context: AppContext) -> str | None:
    """Why the gallery cannot serve now, or None; a shared database's reachability is what
    the replica's listener saw last (no query per probe)."""
    if not context.gallery.ready:
        return "the face gallery is still loading"
    listener = getattr(request.app.state, "gallery_listener", None)
    if listener is not None and not listener.connected:
        return "the face gallery's database cannot be reached"
    return None


def status_word(status: str) -> str:
    """``error: <why>`` -> ``error``; the words (loading, ready, not pulled) stay as they are."""
    return status.split(":", 1)[0].strip()


def _may_see_details(request: Request, context: AppContext) -> bool:
    """Without a key configured everyone may; with one, only a caller sending it."""
    key = context.settings.api_key
    if key is None:
        return True
    given = request.headers.get(API_KEY_HEADER, "")
    return hmac.compare_digest(given.encode(), key.get_secret_value().encode())
