"""``POST /verify-face`` (1:1, is this the claimed person?) and ``POST /recognize-face``
(1:K, who is this?) — both by cosine similarity against a calibrated threshold."""

from __future__ import annotations

import time
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from service.api.context import Context
from service.api.face_schemas import FaceOut, RecognizedFace, RecognizeResponse, VerifyResponse
from service.api.face_work import (
    DetectorName,
    EmbedderName,
    Threshold,
    analyse,
    face_analyzer,
)
from service.api.inference import observed_timings, run_blocking, server_timing
from service.api.routes.responses import INFERENCE_ERRORS
from service.api.schemas import ModelRef
from service.api.uploads import image_request_body, read_image, read_images

router = APIRouter(tags=["faces"])
VERIFY_FIELDS = ("image1", "image2")


@router.post(
    "/verify-face",
    response_model=VerifyResponse,
    responses=INFERENCE_ERRORS,
    openapi_extra=image_request_body(VERIFY_FIELDS),
    summary="Are the faces in two images the same person?",
)
async def verify_face(
    request: Request,
    response: Response,
    context: Context,
    model: EmbedderName = None,
    detector: DetectorName = None,
    threshold: Threshold = None,
    detect: Annotated[
        bool,
        Query(description="false: both images already are aligned 112x112 face crops."),
    ] = True,
) -> VerifyResponse:
    """The largest face of each image, aligned and embedded; ``verified`` when their cosine
    similarity reaches the threshold. An image without a face is a 422 naming it."""
    started = time.perf_counter()
    analyzer = face_analyzer(context, request, detector, model)
    uploads = await read_images(request, VERIFY_FIELDS)
    analysed = await run_blocking(
        context,
        lambda: analyse(
            analyzer,
            uploads,
            context.settings.max_pixels,
            detect=detect,
            largest_only=True,
            require_face=True,
        ),
    )
    first, second = (analysed.images[name].faces[0] for name in VERIFY_FIELDS)
    similarity = float(np.dot(first.embedding, second.embedding))
    cutoff = analyzer.embedder.threshold if threshold is None else threshold
    embedder = analyzer.embedder.info
    timings = observed_timings(
        context, embedder.name, analysed.decode_ms, analysed.timings, started
    )
    response.headers["Server-Timing"] = server_timing(timings)
    return VerifyResponse(
        verified=similarity >= cutoff,
        similarity=similarity,
        threshold=cutoff,
        faces=[FaceOut.of(first), FaceOut.of(second)],
        model=ModelRef.of(embedder),
        detector=ModelRef.of(analyzer.detector.info) if detect else None,
        timings_ms=timings,
    )


@router.post(
    "/recognize-face",
    response_model=RecognizeResponse,
    responses=INFERENCE_ERRORS,
    openapi_extra=image_request_body(),
    summary="Who are the faces in an image? (search the gallery)",
)
async def recognize_face(
    request: Request,
    response: Response,
    context: Context,
    model: EmbedderName = None,
    detector: DetectorName = None,
    threshold: Threshold = None,
    top_k: Annotated[
        int, Query(ge=1, le=100, description="Candidates listed per face, best first.")
    ] = 3,
) -> RecognizeResponse:
    """Every face in the image with the enrolled subject it matches, or ``subject: null`` when
    no subject reaches the threshold (never merely the nearest one). An image without faces
    answers an empty ``faces`` list."""
    started = time.perf_counter()
    analyzer = face_analyzer(context, request, detector, model)
    uploads = {"image": await read_image(request)}
    analysed = await run_blocking(
        context, lambda: analyse(analyzer, uploads, context.settings.max_pixels)
    )
    faces = analysed.images["image"].faces
    cutoff = analyzer.embedder.threshold if threshold is None else threshold
    embedder = analyzer.embedder.info
    queries = np.stack([f.embedding for f in faces]) if faces else np.zeros((0, 0), np.float32)
    matches = await run_in_threadpool(
        context.gallery.search, embedder.name, queries, threshold=cutoff, top_k=top_k
    )
    timings = observed_timings(
        context, embedder.name, analysed.decode_ms, analysed.timings, started
    )
    response.headers["Server-Timing"] = server_timing(timings)
    return RecognizeResponse(
        faces=[RecognizedFace.matched(f, m) for f, m in zip(faces, matches, strict=True)],
        threshold=cutoff,
        model=ModelRef.of(embedder),
        detector=ModelRef.of(analyzer.detector.info),
        timings_ms=timings,
    )
