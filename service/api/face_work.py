"""What the face routes share: choosing the two models, and decoding + analysing uploads.

Every face route — ours and the DeepStack ones — runs a face detector (5 landmarks) and an
embedder (named by ``detector`` and ``model``, or the first of their task), then compares
embeddings or goes to the gallery. Decoding and both models run in the thread pool within one
admission slot, like every other inference; gallery reads and writes run in the thread pool.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated

import cv2
import numpy as np
from fastapi import Query
from numpy.typing import NDArray
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from service.api.context import AppContext
from service.api.errors import NoFaceError
from service.api.inference import observed_timings, ready_pipeline, run_blocking
from service.api.schemas import TimingsMs
from service.faces import FaceRecord, GalleryMatch, NewFace
from service.pipelines.detector import FaceDetector
from service.pipelines.embedder import FaceEmbedder
from service.pipelines.faces import FaceAnalysis, FaceAnalyzer, FoundFace
from service.pipelines.images import decode_image
from service.pipelines.results import Timings
from service.timing import StageClock

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
    embedding = ready_pipeline(context, request, FaceEmbedder, embedder)
    return FaceAnalyzer(context.models.get(FaceDetector, detector), embedding)


@dataclass(frozen=True)
class Analysed:
    """Each upload's faces (by upload name), and the model stage times summed over all."""

    images: dict[str, FaceAnalysis]
    timings: Timings

    def largest_faces(self) -> list[FoundFace]:
        """The one face of each upload, in upload order (analysed with ``one_face_each``)."""
        return [analysis.faces[0] for analysis in self.images.values()]


async def analyse_uploads(
    context: AppContext,
    analyzer: FaceAnalyzer,
    uploads: Mapping[str, bytes],
    clock: StageClock,
    *,
    detect: bool = True,
    one_face_each: bool = False,
) -> Analysed:
    """Decode and analyse each upload off the event loop, within an admission slot.

    ``detect=False`` treats each upload as an aligned face crop. ``one_face_each`` keeps only
    the largest face of each upload and refuses an upload without one, naming it.
    """
    settings = context.settings
    limits = (settings.max_pixels, settings.max_decoded_bytes)
    return await run_blocking(
        context, _analyse, analyzer, uploads, limits, clock, detect, one_face_each
    )


def _analyse(
    analyzer: FaceAnalyzer,
    uploads: Mapping[str, bytes],
    limits: tuple[int, int],
    clock: StageClock,
    detect: bool,
    one_face_each: bool,
) -> Analysed:
    """``limits``: the pixel and decoded-byte limits, checked from each upload's header."""
    max_pixels, max_decoded_bytes = limits
    images: dict[str, FaceAnalysis] = {}
    for name, data in uploads.items():
        with clock.stage("decode"):
            decoded = decode_image(
                data, max_pixels=max_pixels, max_decoded_bytes=max_decoded_bytes, name=name
            )
        if decoded.notice:  # e.g. unreadable EXIF: the answer says the image was not rotated
            clock.notices.append(f"{name}: {decoded.notice}")
        pixels = decoded.pixels
        if detect:
            analysis = analyzer.faces(pixels, largest_only=one_face_each)
        else:
            analysis = analyzer.aligned(pixels)
        if one_face_each and not analysis.faces:
            height, width = pixels.shape[:2]
            raise NoFaceError(
                f"{name}: no face found in the {width}x{height} image by "
                f"{analyzer.detector.info.name}"
            )
        images[name] = analysis
    timings = Timings.sum([analysis.timings for analysis in images.values()])
    return Analysed(images=images, timings=timings)


def face_timings(
    context: AppContext, analyzer: FaceAnalyzer, analysed: Analysed, clock: StageClock
) -> TimingsMs:
    """The answer's ``timings_ms``, recorded as the embedder's stage metrics."""
    return observed_timings(context, analyzer.embedder.info.name, clock, analysed.timings)


async def enrol_faces(
    context: AppContext, analyzer: FaceAnalyzer, subject: str, faces: Sequence[FoundFace]
) -> list[FaceRecord]:
    """Store each face as its own gallery face of ``subject`` (one transaction), with its
    aligned crop when ``VISION_GALLERY_KEEP_CROPS`` is on."""
    keep = context.settings.gallery_keep_crops
    new = [
        NewFace(face.embedding, face.box, crop_png(face.aligned) if keep else None)
        for face in faces
    ]
    records: list[FaceRecord] = await run_in_threadpool(
        context.gallery.enrol, subject, analyzer.embedder.info.name, new
    )
    return records


def crop_png(aligned: NDArray[np.uint8] | None) -> bytes | None:
    """The aligned RGB crop as PNG (lossless: ``gallery reembed`` embeds exactly it again)."""
    if aligned is None:
        return None
    encoded, png = cv2.imencode(".png", cv2.cvtColor(aligned, cv2.COLOR_RGB2BGR))
    return png.tobytes() if encoded else None


async def search_gallery(
    context: AppContext,
    analyzer: FaceAnalyzer,
    faces: Sequence[FoundFace],
    *,
    threshold: float,
    top_k: int,
) -> list[GalleryMatch]:
    """Each face's match among the subjects enrolled with this embedder."""
    queries = np.stack([f.embedding for f in faces]) if faces else np.zeros((0, 0), np.float32)
    matches: list[GalleryMatch] = await run_in_threadpool(
        context.gallery.search,
        analyzer.embedder.info.name,
        queries,
        threshold=threshold,
        top_k=top_k,
    )
    return matches
