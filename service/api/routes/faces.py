"""``POST /verify-face`` (1:1, is this the claimed person?) and ``POST /recognize-face``
(1:K, who is this?) — both by cosine similarity against a calibrated threshold."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Depends, Query, Request

from service.api.context import Context
from service.api.face_schemas import FaceOut, RecognizedFace, RecognizeResponse, VerifyResponse
from service.api.face_work import (
    DetectorName,
    EmbedderName,
    Threshold,
    analyse_uploads,
    face_analyzer,
    face_timings,
    search_gallery,
)
from service.api.query import refuse_unknown_query
from service.api.routes.responses import INFERENCE_ERRORS
from service.api.schemas import ModelRef
from service.api.server_timing import Clock
from service.api.uploads import IMAGE_FIELD, image_request_body, read_image, read_images

router = APIRouter(tags=["faces"], dependencies=[Depends(refuse_unknown_query)])
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
    context: Context,
    clock: Clock,
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
    analyzer = face_analyzer(context, request, detector, model)
    uploads = await read_images(request, VERIFY_FIELDS)
    analysed = await analyse_uploads(
        context, analyzer, uploads, clock, detect=detect, one_face_each=True
    )
    first, second = analysed.largest_faces()
    similarity = float(np.dot(first.embedding, second.embedding))
    cutoff = analyzer.embedder.threshold if threshold is None else threshold
    embedder = analyzer.embedder.info
    timings = face_timings(context, analyzer, analysed, clock)
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
    context: Context,
    clock: Clock,
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
    analyzer = face_analyzer(context, request, detector, model)
    uploads = {IMAGE_FIELD: await read_image(request)}
    analysed = await analyse_uploads(context, analyzer, uploads, clock)
    faces = analysed.images[IMAGE_FIELD].faces
    cutoff = analyzer.embedder.threshold if threshold is None else threshold
    matches = await search_gallery(context, analyzer, faces, threshold=cutoff, top_k=top_k)
    embedder = analyzer.embedder.info
    timings = face_timings(context, analyzer, analysed, clock)
    return RecognizeResponse(
        faces=[RecognizedFace.matched(f, m) for f, m in zip(faces, matches, strict=True)],
        threshold=cutoff,
        model=ModelRef.of(embedder),
        detector=ModelRef.of(analyzer.detector.info),
        timings_ms=timings,
    )
