"""``GET /metrics``: Prometheus text exposition of this app's metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response

from service.api.context import Context

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
    summary="Prometheus metrics",
)
def metrics(context: Context) -> Response:
    body, content_type = context.metrics.render()
    return Response(body, media_type=content_type)
