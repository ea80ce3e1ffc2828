"""The Open Inference Protocol's error shape, ``{"error": "..."}``, for every failure under
``/v2``, wherever it was decided (the limits' 401/413, routing's 404/405, the routes' 400/404,
admission's 503): the shared :class:`~service.api.problem_rewrite.ProblemRewriteMiddleware`
rewrites those problem answers, same status and headers, the problem's ``detail`` as
``error``. That is the body tritonclient and KServe clients read the message from.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp

from service.api.limits import is_oip_path
from service.api.problem_rewrite import ProblemRewriteMiddleware


class OipErrorsMiddleware(ProblemRewriteMiddleware):
    """Problem answers on ``/v2`` paths become ``{"error": detail}`` JSON."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app, owns=is_oip_path, render=_oip_error)


def _oip_error(status: int, detail: str) -> bytes:
    return json.dumps({"error": detail}).encode()
