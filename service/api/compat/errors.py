"""DeepStack's error shape for every failure under ``/v1/``, wherever it was decided.

DeepStack clients read ``{"success": false, "error": ..., "code": ...}``; the shared
:class:`~service.api.problem_rewrite.ProblemRewriteMiddleware` rewrites every problem answer
to a ``/v1/`` path into that shape (same status, same headers, the problem's ``detail`` as
``error``), so errors are still decided in one place.

One status differs from ours: an image without a face (a failed register or match) is 400,
as DeepStack answered it, not our 422. CodeProject.AI answers a failed register 200
``success: false``; we keep an error status because every client we tested (deepstack-python,
codeprojectai, deepstack-sdk, Viseron) checks the status first and then raises either way,
and a 200 would count as a success in a client that reads only the status.
"""

from __future__ import annotations

from starlette.types import ASGIApp

from service.api.compat.answers import DeepStackError
from service.api.limits import is_compat_path
from service.api.problem_rewrite import ProblemRewriteMiddleware, problem_slug

NO_FACE = "no-face"
DEEPSTACK_NO_FACE_STATUS = 400  # DeepStack's "No face detected" on register


class DeepStackErrorsMiddleware(ProblemRewriteMiddleware):
    """Problem answers on ``/v1/`` paths become ``{success: false, error, code}`` JSON."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app, owns=is_compat_path, render=_deepstack_error)

    def translate(self, status: int, problem_body: bytes) -> tuple[int, bytes]:
        if problem_slug(problem_body) == NO_FACE:
            status = DEEPSTACK_NO_FACE_STATUS
        return super().translate(status, problem_body)


def _deepstack_error(status: int, detail: str) -> bytes:
    return DeepStackError(error=detail, code=status).model_dump_json().encode()
