"""What the CompreFace routes share: their query parameters, and finding the faces of one
upload with CompreFace's ``det_prob_threshold`` and ``limit``.

CompreFace answers an image without a face 400 with ``code: 28`` on every route (Double Take
reads that as "nobody there"), so ``faces_of`` refuses with ``NoFaceError``, which the
errors middleware turns into exactly that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query
from starlette.requests import Request

from service.api.context import AppContext
from service.api.errors import NoFaceError
from service.api.face_work import Analysed, analyse_uploads, face_analyzer
from service.pipelines.faces import FaceAnalyzer, FoundFace
from service.timing import StageClock

LANDMARKS_PLUGIN = "landmarks"
FILE = "file"  # the image field of CompreFace's multipart requests


@dataclass(frozen=True)
class FaceOptions:
    """CompreFace's common query parameters (those it has and we do not are ignored)."""

    det_prob_threshold: float | None
    limit: int
    face_plugins: str
    status: bool

    @property
    def landmarks(self) -> bool:
        return LANDMARKS_PLUGIN in (p.strip() for p in self.face_plugins.split(","))


def face_options(
    det_prob_threshold: Annotated[
        float | None,
        Query(ge=0, le=1, allow_inf_nan=False, description="Least detector score of a face."),
    ] = None,
    limit: Annotated[int, Query(ge=0, description="Most faces, largest first; 0 = no limit.")] = 0,
    face_plugins: Annotated[
        str,
        Query(
            max_length=200,
            description="Comma-separated; only `landmarks` is served, others are ignored.",
        ),
    ] = "",
    status: Annotated[bool, Query(description="Add execution_time and plugins_versions.")] = False,
) -> FaceOptions:
    return FaceOptions(det_prob_threshold, limit, face_plugins, status)


Options = Annotated[FaceOptions, Depends(face_options)]


@dataclass(frozen=True)
class Found:
    """The faces kept of one upload (largest first) and the analysis they came from."""

    faces: list[FoundFace]
    analysed: Analysed


async def faces_of(
    context: AppContext,
    request: Request,
    clock: StageClock,
    name: str,
    image: bytes,
    options: FaceOptions,
    *,
    largest_only: bool = False,
) -> tuple[FaceAnalyzer, Found]:
    """The faces of ``image`` scoring at least ``det_prob_threshold``, at most ``limit``;
    none is a ``NoFaceError`` (CompreFace's 400, code 28)."""
    analyzer = face_analyzer(context, request, None, None)
    threshold = options.det_prob_threshold
    analysed = await analyse_uploads(
        context, analyzer, {name: image}, clock, one_face_each=largest_only and threshold is None
    )
    faces = [
        face
        for face in analysed.images[name].faces
        if threshold is None or (face.confidence or 0.0) >= threshold
    ]
    if largest_only:
        faces = faces[:1]
    elif options.limit:
        faces = faces[: options.limit]
    if not faces:
        raise NoFaceError(f"No face is found in the given image ({name})")
    return analyzer, Found(faces, analysed)


def plugins_versions(analyzer: FaceAnalyzer, options: FaceOptions) -> dict[str, str] | None:
    """With ``status=true``: the models that played CompreFace's detector and calculator."""
    if not options.status:
        return None
    return {"detector": analyzer.detector.info.name, "calculator": analyzer.embedder.info.name}


def execution_ms(found: Found, options: FaceOptions) -> float | None:
    """With ``status=true``: the model time spent on the image (all its faces), in ms."""
    if not options.status:
        return None
    t = found.analysed.timings
    return t.preprocess_ms + t.inference_ms + t.postprocess_ms
