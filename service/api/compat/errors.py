"""DeepStack's error shape for every failure under ``/v1/``, wherever it was decided.

DeepStack clients read ``{"success": false, "error": ..., "code": ...}``; the shared
:class:`~service.api.problem_rewrite.ProblemRewriteMiddleware` rewrites every problem answer
to a ``/v1/`` path into that shape (same status, same headers, the problem's ``detail`` as
``error``), so errors are still decided in one place.
"""

from __future__ import annotations

from starlette.types import ASGIApp

from service.api.compat.answers import DeepStackError
from service.api.limits import is_compat_path
from service.api.problem_rewrite import ProblemRewriteMiddleware


class DeepStackErrorsMiddleware(ProblemRewriteMiddleware):
    """Problem answers on ``/v1/`` paths become ``{success: false, error, code}`` JSON."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app, owns=is_compat_path, render=_deepstack_error)


def _deepstack_error(status: int, detail: str) -> bytes:
    return DeepStackError(error=detail, code=status).model_dump_json().encode()
