"""The request flow every inference route shares: pick a ready model, read, decode, run.

Decoding and the model run are blocking (Pillow, onnxruntime), so both go to the thread pool,
inside an admission slot; the event loop only ever waits.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from service.api.context import AppContext
from service.api.metrics import label_model
from service.api.schemas import TimingsMs
from service.api.uploads import read_image
from service.pipelines.images import DecodedImage, decode_image
from service.pipelines.results import Timings


class _Timed(Protocol):
    @property
    def timings(self) -> Timings: ...


R = TypeVar("R", bound=_Timed)


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
    data = await read_image(request)
    async with context.admission.slot():
        image, decode_ms, result = await run_in_threadpool(
            _decode_and_run, data, context.settings.max_pixels, run
        )
    stages = result.timings
    timings = TimingsMs(
        decode=decode_ms,
        preprocess=stages.preprocess_ms,
        inference=stages.inference_ms,
        postprocess=stages.postprocess_ms,
        total=_ms_since(started),
    )
    context.metrics.observe_stages(model, timings.model_dump())
    return Inferred(image=image, result=result, timings=timings)


def _decode_and_run(
    data: bytes, max_pixels: int, run: Callable[[NDArray[np.uint8]], R]
) -> tuple[DecodedImage, float, R]:
    """One trip to the thread pool for both blocking stages."""
    start = time.perf_counter()
    image = decode_image(data, max_pixels=max_pixels)
    decode_ms = _ms_since(start)
    return image, decode_ms, run(image.pixels)


def _ms_since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 3)


def server_timing(timings: TimingsMs) -> str:
    """The same stage times as a ``Server-Timing`` header, for browsers' and proxies' tools."""
    return ", ".join(f"{stage};dur={ms}" for stage, ms in timings.model_dump().items())
