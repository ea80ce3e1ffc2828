"""The DeepStack / CodeProject.AI ``/v1/vision`` API, so that the clients already deployed
(Frigate's ``deepstack`` detector, Home Assistant through deepstack-python, Blue Iris,
deepstack-sdk) switch to this service by changing a URL.

The routes reuse our pipelines, admission, limits and gallery; only the request reading
(``form``), the API key (``key``), the answers (``answers``) and the error shape (``errors``)
are DeepStack's. ``router`` holds every route under ``COMPAT_PREFIX`` and checks the key for
each of them.
"""

from fastapi import APIRouter, Depends

from service.api.compat import detection, faces
from service.api.compat.errors import DeepStackErrorsMiddleware
from service.api.compat.key import require_key
from service.api.limits import COMPAT_PREFIX

router = APIRouter(
    prefix=COMPAT_PREFIX,
    tags=["DeepStack / CodeProject.AI"],
    dependencies=[Depends(require_key)],
)
router.include_router(detection.router)
router.include_router(faces.router)

__all__ = ["DeepStackErrorsMiddleware", "router"]
