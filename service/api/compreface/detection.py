"""CompreFace's detection and verification services: faces of an image, and how alike the
largest face of ``source_image`` is to every face of ``target_image``."""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Request

from service.api.compat.confidence import confidence_of
from service.api.compreface.answers import (
    DetectionAnswer,
    FoundFaceAnswer,
    MatchedFace,
    Verification,
    VerificationAnswer,
)
from service.api.compreface.faces import (
    FILE,
    Options,
    execution_ms,
    faces_of,
    plugins_versions,
)
from service.api.context import Context
from service.api.server_timing import Clock
from service.api.uploads import image_request_body, read_images

router = APIRouter()
SOURCE, TARGET = "source_image", "target_image"


@router.post(
    "/detection/detect",
    response_model=DetectionAnswer,
    response_model_exclude_none=True,
    openapi_extra=image_request_body([FILE]),
    summary="Every face, largest first",
)
async def detect(
    request: Request, context: Context, clock: Clock, options: Options
) -> DetectionAnswer:
    image = (await read_images(request, [FILE]))[FILE]
    analyzer, found = await faces_of(context, request, clock, FILE, image, options)
    spent = execution_ms(found, options)
    return DetectionAnswer(
        result=[
            FoundFaceAnswer(**FoundFaceAnswer.fields(face, options.landmarks, spent))
            for face in found.faces
        ],
        plugins_versions=plugins_versions(analyzer, options),
    )


@router.post(
    "/verification/verify",
    response_model=VerificationAnswer,
    response_model_exclude_none=True,
    openapi_extra=image_request_body([SOURCE, TARGET]),
    summary="The source image's face against every face of the target image",
)
async def verify(
    request: Request, context: Context, clock: Clock, options: Options
) -> VerificationAnswer:
    images = await read_images(request, [SOURCE, TARGET])
    analyzer, source = await faces_of(
        context, request, clock, SOURCE, images[SOURCE], options, largest_only=True
    )
    _, target = await faces_of(context, request, clock, TARGET, images[TARGET], options)
    (face,) = source.faces
    tau = analyzer.embedder.threshold
    matches = [
        MatchedFace(
            **MatchedFace.fields(other, options.landmarks, execution_ms(target, options)),
            similarity=round(confidence_of(float(np.dot(face.embedding, other.embedding)), tau), 5),
        )
        for other in target.faces
    ]
    matches.sort(key=lambda m: -m.similarity)
    verification = Verification(
        source_image_face=FoundFaceAnswer(
            **FoundFaceAnswer.fields(face, options.landmarks, execution_ms(source, options))
        ),
        face_matches=matches,
    )
    return VerificationAnswer(
        result=[verification], plugins_versions=plugins_versions(analyzer, options)
    )
