"""The CompreFace REST API under ``/api/v1``: the subset its SDKs and Double Take use
(recognition examples, subjects and recognize; detection; verification), on our gallery and
face models, in CompreFace's request and answer shapes and its ``{message, code}`` errors.

CompreFace clients send the key in ``x-api-key``, the header our own routes read, so the
limits middleware checks it: CompreFace's per-service keys (recognition, detection,
verification) are all ``VISION_API_KEY`` here.
"""

from fastapi import APIRouter

from service.api.compreface import detection, recognition
from service.api.compreface.answers import CompreFaceError
from service.api.compreface.errors import PREFIX, CompreFaceErrorsMiddleware

_ERRORS = {
    status: {"model": CompreFaceError, "description": "CompreFace's error shape"}
    for status in (400, 401, 404, 413, 415, 503)
}

router = APIRouter(prefix=PREFIX, tags=["CompreFace"], responses=_ERRORS)  # type: ignore[arg-type]
router.include_router(recognition.router)
router.include_router(detection.router)

__all__ = ["CompreFaceErrorsMiddleware", "router"]
