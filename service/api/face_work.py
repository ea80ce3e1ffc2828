"""What the face routes share: choosing the two models, and decoding + analysing uploads.

Every face route runs a face detector (5 landmarks) and an embedder; both are named by query
parameters (``detector``, ``model``) or default to the first of their task. Decoding and both
models run in the thread pool within one admission slot, like every other inference.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

from fastapi import Query
from starlette.requests import Request

from service.api.context import AppContext
from service.api.errors import NoFaceError
from service.api.inference import ready_pipeline
from service.pipelines.detector import Detector
from service.pipelines.embedder import FaceEmbedder
from service.pipelines.faces import FaceAnalysis, FaceAnalyzer
from service.pipelines.images import decode_image
from service.pipelines.results import Timings

DetectorName = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=200,
        description="Face detector (task face-detect, with landmarks); default: the first one.",
    ),
]
EmbedderName = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=200,
        description="Face-embedding model (task face-embed); default: the first one.",
    ),
]
Threshold = Annotated[
    float | None,
    Query(
        ge=-1,
        le=1,
        allow_inf_nan=False,
        description="Cosine similarity at or above which faces match; default: the model's "
        "calibrated thresholds.similarity (see GET /models).",
    ),
]


def face_analyzer(
    context: AppContext, request: Request, detector: str | None, embedder: str | None
) -> FaceAnalyzer:
    """The ready detector and embedder; unknown (404) or not ready (503) are refused."""
    embedding: FaceEmbedder = ready_pipeline(context, request, "face-embed", embedder)
    detecting: Detector = context.models.get("face-detect", detector)  # type: ignore[assignment]
    return FaceAnalyzer(detecting, embedding)


@dataclass(frozen=True)
class Analysed:
    """Each upload's faces (by upload name), and the stage times summed over all of them."""

    images: dict[str, FaceAnalysis]
    decode_ms: float
    timings: Timings


def analyse(
    analyzer: FaceAnalyzer,
    uploads: Mapping[str, bytes],
    max_pixels: int,
    *,
    detect: bool = True,
    largest_only: bool = False,
    require_face: bool = False,
) -> Analysed:
    """Decode and analyse each upload (blocking: call it in the thread pool).

    ``detect=False`` treats each upload as an aligned face crop. ``require_face`` refuses an
    upload in which no face is found, naming it.
    """
    decode_s = 0.0
    images: dict[str, FaceAnalysis] = {}
    for name, data in uploads.items():
        start = time.perf_counter()
        pixels = decode_image(data, max_pixels=max_pixels, name=name).pixels
        decode_s += time.perf_counter() - start
        if detect:
            analysis = analyzer.faces(pixels, largest_only=largest_only)
        else:
            analysis = analyzer.aligned(pixels)
        if require_face and not analysis.faces:
            height, width = pixels.shape[:2]
            raise NoFaceError(
                f"{name}: no face found in the {width}x{height} image by "
                f"{analyzer.detector.info.name}"
            )
        images[name] = analysis
    timings = Timings.sum([analysis.timings for analysis in images.values()])
    return Analysed(images=images, decode_ms=decode_s * 1000.0, timings=timings)
