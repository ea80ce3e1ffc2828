"""FaceAnalyzer: a face detector and an embedder together — find faces, align, embed.

Verification, enrolment and recognition all start the same way: detect faces with their five
landmarks, align each onto the ArcFace template and embed it. This module is that shared
start; comparing embeddings (one pair, or against a gallery) is the caller's business.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from service.errors import ServiceError
from service.pipelines.detector import FaceDetector
from service.pipelines.embedder import FaceEmbedder
from service.pipelines.results import Timings


@dataclass(frozen=True)
class FoundFace:
    """One face: where it is (image pixels), how sure the detector was, and its embedding.

    ``confidence`` and ``landmarks`` are None for an input that was already an aligned crop.
    """

    box: tuple[float, float, float, float]
    confidence: float | None
    landmarks: NDArray[np.float32] | None
    embedding: NDArray[np.float32]
    aligned: NDArray[np.uint8] | None = None  # the 112x112 crop the embedder saw (RGB)


@dataclass(frozen=True)
class FaceAnalysis:
    """Every face found in one image, largest first, and the time spent by stage."""

    faces: list[FoundFace]
    timings: Timings


class FaceAnalyzer:
    """Runs ``detector`` (a face-detect model with 5 landmarks) then ``embedder`` per face."""

    def __init__(self, detector: FaceDetector, embedder: FaceEmbedder) -> None:
        self.detector = detector
        self.embedder = embedder

    def faces(self, pixels: NDArray[np.uint8], *, largest_only: bool = False) -> FaceAnalysis:
        """Detect, then embed every face (or only the largest one), largest first."""
        found = self.detector.run(pixels)
        if found.keypoints is None or found.keypoints.shape[1] < 5:
            # A boxes-only detector (e.g. UltraFace) cannot align faces for the embedder.
            raise FaceModelError(
                f"face detector {found.model.name!r} gives no 5-point landmarks; "
                "choose one that does (YuNet, RetinaFace, SCRFD)"
            )
        areas = (found.xyxy[:, 2] - found.xyxy[:, 0]) * (found.xyxy[:, 3] - found.xyxy[:, 1])
        order = np.argsort(-areas, kind="stable")
        if largest_only:
            order = order[:1]
        faces: list[FoundFace] = []
        embed_timings: list[Timings] = []
        for i in order.tolist():
            landmarks = found.keypoints[i, :5]
            embedded = self.embedder.embed(pixels, landmarks)
            embed_timings.append(embedded.timings)
            x1, y1, x2, y2 = (float(v) for v in found.xyxy[i])
            faces.append(
                FoundFace(
                    box=(x1, y1, x2, y2),
                    confidence=float(found.confidence[i]),
                    landmarks=landmarks.astype(np.float32),
                    embedding=embedded.vector,
                    aligned=embedded.aligned,
                )
            )
        return FaceAnalysis(faces=faces, timings=Timings.sum([found.timings, *embed_timings]))

    def aligned(self, pixels: NDArray[np.uint8]) -> FaceAnalysis:
        """The whole image is one already aligned face crop (112x112, resized if not)."""
        embedded = self.embedder.embed(pixels, None)
        height, width = pixels.shape[:2]
        face = FoundFace(
            box=(0.0, 0.0, float(width), float(height)),
            confidence=None,
            landmarks=None,
            embedding=embedded.vector,
            aligned=embedded.aligned,
        )
        return FaceAnalysis(faces=[face], timings=embedded.timings)


class FaceModelError(ServiceError):
    """The chosen face detector cannot feed the embedder (it gives no landmarks)."""
