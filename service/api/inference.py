"""The request flow every inference route shares: pick a ready model, read, decode, run.

Decoding and the model run are blocking (Pillow, onnxruntime), so both go to the thread pool,
inside an admission slot; the event loop only ever waits.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from service.api.context import AppContext
from service.api.metrics import label_model
from service.api.schemas import TimingsMs
from service.api.uploads import IMAGE_FIELD, read_image
from service.pipelines.images import DecodedImage, decode_image
from service.pipelines.results import Timings


class _Timed(Protocol):
    @property
    def timings(self) -> Timings: ...


R = TypeVar("R", bound=_Timed)
T = TypeVar("T")


@dataclass(frozen=True)
class Inferred(Generic[R]):
    image: DecodedImage
    result: R
    timings: TimingsMs


def ready_pipeline(context: AppContext, request: Request, task: str, name: str | None) -> Any:
    """The ready model serving ``task`` (``name``, or the task's default); the registry
    refuses unknown (404) and not-ready (503) models."""
    pipeline = context.models.get(task, name)
    label_model(request, pipeline.info.name)
    return pipeline


async def infer(
    context: AppContext,
    request: Request,
    run: Callable[[NDArray[np.uint8]], R],
    *,
    model: str,
    started: float,
) -> Inferred[R]:
    """Read the upload, then decode and ``run`` it off the event loop within a slot."""
    uploads = {IMAGE_FIELD: await read_image(request)}
    return await infer_uploads(context, uploads, run, model=model, started=started)


async def infer_uploads(
    context: AppContext,
    uploads: Mapping[str, bytes],
    run: Callable[..., R],
    *,
    model: str,
    started: float,
) -> Inferred[R]:
    """``infer`` for uploads a route has read itself: each is decoded (errors name its field)
    and ``run`` gets their pixels in order; ``Inferred.image`` is the first."""
    image, decode_ms, result = await run_blocking(
        context, _decode_and_run, uploads, context.settings.max_pixels, run
    )
    timings = observed_timings(context, model, decode_ms, result.timings, started)
    return Inferred(image=image, result=result, timings=timings)


async def run_blocking(context: AppContext, work: Callable[..., T], *args: Any) -> T:
    """``work(*args)`` in the thread pool, within an admission slot."""
    async with context.admission.slot():
        return await run_in_threadpool(work, *args)


def observed_timings(
    context: AppContext, model: str, decode_ms: float, stages: Timings, started: float
) -> TimingsMs:
    """The answer's ``timings_ms`` (total: since ``started``), also recorded as metrics."""
    timings = TimingsMs(
        decode=round(decode_ms, 3),
        preprocess=stages.preprocess_ms,
        inference=stages.inference_ms,
        postprocess=stages.postprocess_ms,
        total=_ms_since(started),
    )
    context.metrics.observe_stages(model, timings.model_dump())
    return timings


def _decode_and_run(
    uploads: Mapping[str, bytes], max_pixels: int, run: Callable[..., R]
) -> tuple[DecodedImage, float, R]:
    """One trip to the thread pool for both blocking stages."""
    start = time.perf_counter()
    images = [
        decode_image(data, max_pixels=max_pixels, name=name) for name, data in uploads.items()
    ]
    decode_ms = _ms_since(start)
    return images[0], decode_ms, run(*(image.pixels for image in images))


def _ms_since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 3)


def server_timing(timings: TimingsMs | Mapping[str, float]) -> str:
    """The same stage times as a ``Server-Timing`` header, for browsers' and proxies' tools."""
    stages = timings.model_dump() if isinstance(timings, TimingsMs) else timings
    return ", ".join(f"{stage};dur={ms}" for stage, ms in stages.items())
