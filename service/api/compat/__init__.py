"""The DeepStack / CodeProject.AI ``/v1/vision`` API, so that the clients already deployed
(Frigate's ``deepstack`` detector, Home Assistant through deepstack-python, Blue Iris,
deepstack-sdk) switch to this service by changing a URL.

The routes reuse our pipelines, admission, limits and gallery; only the request reading
(``form``), the answers (``answers``) and the error shape (``errors``) are DeepStack's.
"""

from fastapi import APIRouter

from service.api.compat import detection, faces
from service.api.compat.errors import COMPAT_PREFIX, DeepStackErrorsMiddleware

router = APIRouter()
router.include_router(detection.router)
router.include_router(faces.router)

__all__ = ["COMPAT_PREFIX", "DeepStackErrorsMiddleware", "router"]
