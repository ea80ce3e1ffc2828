"""The request flow every inference route shares: pick a ready model, read, decode, run.

Decoding and the model run are blocking (Pillow, onnxruntime), so both go to the thread pool,
inside an admission slot; the event loop only ever waits.
"""

from __future__ import annotations

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
from service.pipelines.preprocess import decode_floor
from service.pipelines.protocol import P
from service.pipelines.results import Timings
from service.repository.spec import InputSpec
from service.timing import StageClock


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


def ready_pipeline(context: AppContext, request: Request, kind: type[P], name: str | None) -> P:
    """The ready model of ``kind`` (``name``, or the task's default); the registry refuses
    unknown (404) and not-ready (503) models."""
    pipeline = context.models.get(kind, name)
    label_model(request, pipeline.info.name)
    return pipeline


async def infer(
    context: AppContext,
    request: Request,
    run: Callable[[NDArray[np.uint8]], R],
    *,
    model: str,
    clock: StageClock,
    fast_input: InputSpec | None = None,
) -> Inferred[R]:
    """Read the upload, then decode and ``run`` it off the event loop within a slot.

    ``AdmissionGateMiddleware`` has already counted the request in line (or refused it with its
    body unread) and reserves the body's bytes as it is read here."""
    uploads = {IMAGE_FIELD: await read_image(request)}
    return await infer_uploads(
        context, uploads, run, model=model, clock=clock, fast_input=fast_input
    )


async def infer_uploads(
    context: AppContext,
    uploads: Mapping[str, bytes],
    run: Callable[..., R],
    *,
    model: str,
    clock: StageClock,
    fast_input: InputSpec | None = None,
) -> Inferred[R]:
    """``infer`` for uploads a route has read itself: each is decoded (errors name its field)
    and ``run`` gets their pixels in order; ``Inferred.image`` is the first.

    ``fast_input``: the model input that one upload's pixels only feed, for a route whose
    ``run`` takes ``image_hw``; with fast decode on (VISION_FAST_DECODE, or the model's
    ``[input] fast_decode``) a JPEG is then decoded at a reduced scale still covering it."""
    settings = context.settings
    reduce_to = None
    if fast_input is not None and (settings.fast_decode or fast_input.fast_decode):
        reduce_to = decode_floor(fast_input)
    limits = _DecodeLimits(settings.max_pixels, settings.max_decoded_bytes, reduce_to)
    image, result = await run_blocking(context, _decode_and_run, uploads, limits, run, clock)
    timings = observed_timings(context, model, clock, result.timings)
    return Inferred(image=image, result=result, timings=timings)


async def run_blocking(context: AppContext, work: Callable[..., T], *args: Any) -> T:
    """``work(*args)`` in the thread pool, within an admission slot."""
    async with context.admission.slot():
        return await run_in_threadpool(work, *args)


def observed_timings(
    context: AppContext, model: str, clock: StageClock, stages: Timings
) -> TimingsMs:
    """The answer's ``timings_ms``: the decode time on ``clock``, the model's ``stages`` (added
    to ``clock`` for the Server-Timing header), and the total so far; also recorded as metrics."""
    clock.add("preprocess", stages.preprocess_ms)
    clock.add("inference", stages.inference_ms)
    clock.add("postprocess", stages.postprocess_ms)
    timings = TimingsMs(
        decode=clock.ms("decode"),
        preprocess=clock.ms("preprocess"),
        inference=clock.ms("inference"),
        postprocess=clock.ms("postprocess"),
        total=clock.total_ms(),
    )
    context.metrics.observe_stages(model, timings.model_dump())
    return timings


@dataclass(frozen=True)
class _DecodeLimits:
    max_pixels: int
    max_decoded_bytes: int
    reduce_to: Callable[[tuple[int, int]], tuple[int, int]] | None = None


def _decode_and_run(
    uploads: Mapping[str, bytes], limits: _DecodeLimits, run: Callable[..., R], clock: StageClock
) -> tuple[DecodedImage, R]:
    """One trip to the thread pool for both blocking stages."""
    with clock.stage("decode"):
        images = [
            decode_image(
                data,
                max_pixels=limits.max_pixels,
                max_decoded_bytes=limits.max_decoded_bytes,
                name=name,
                reduce_to=limits.reduce_to,
            )
            for name, data in uploads.items()
        ]
    clock.notices.extend(
        f"{name}: {i.notice}" for name, i in zip(uploads, images, strict=True) if i.notice
    )
    if limits.reduce_to is not None:  # one upload, a run that maps back to its full size
        return images[0], run(images[0].pixels, image_hw=images[0].full_hw)
    return images[0], run(*(image.pixels for image in images))
