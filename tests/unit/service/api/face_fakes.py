"""Stand-ins for a face detector and an embedder whose answers can be worked out by hand.

The detector finds one face in the middle half of any image that is not all black; the
embedder's vector is the image's mean colour, L2-normalised. So a red and a reddish image are
"the same person" with a cosine computable on paper, and red against green is cosine 0.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from service.pipelines.detector import FaceDetector
from service.pipelines.embedder import FaceEmbedder
from service.pipelines.results import DetectionResult, Embedding, ModelInfo, Timings
from tests.unit.service.api.fakes import PROVIDER, TIMINGS

FACE_SCORE = 0.9
THRESHOLD = 0.363  # as SFace's calibrated cosine


class FakeFaceDetector(FaceDetector):
    """One face, box = the middle half of the image, score FACE_SCORE, five landmarks."""

    def __init__(self, name: str = "fake-face-detector") -> None:  # no model: nothing to pass on
        self.info = ModelInfo(name=name, task="face-detect", provider=PROVIDER)
        self.labels = ["face"]
        self.confidences: list[float | None] = []

    def run(
        self,
        pixels: NDArray[np.uint8],
        *,
        confidence: float | None = None,
        iou: float | None = None,
        max_detections: int | None = None,
        classes: Sequence[int] | None = None,
        image_hw: tuple[int, int] | None = None,
    ) -> DetectionResult:
        self.confidences.append(confidence)
        height, width = pixels.shape[:2]
        found = pixels.max() > 0 and (confidence or 0.0) <= FACE_SCORE
        count = 1 if found else 0
        box = np.array([[width / 4, height / 4, 3 * width / 4, 3 * height / 4]], np.float32)
        landmarks = np.tile(np.array([width / 2, height / 2], np.float32), (1, 5, 1))
        return DetectionResult(
            model=self.info,
            image_hw=(height, width),
            xyxy=box[:count],
            confidence=np.full(count, FACE_SCORE, np.float32),
            class_id=np.zeros(count, np.int64),
            labels=["face"] * count,
            timings=TIMINGS,
            keypoints=landmarks[:count],
        )


class FakeEmbedder(FaceEmbedder):
    """The mean colour of the whole image as a unit vector."""

    def __init__(self, name: str = "fake-embedder") -> None:  # no model: nothing to pass on
        self.info = ModelInfo(name=name, task="face-embed", provider=PROVIDER)
        self.labels: list[str] = []
        self.threshold = THRESHOLD

    def embed(self, pixels: NDArray[np.uint8], landmarks: NDArray[np.floating] | None) -> Embedding:
        mean = pixels.reshape(-1, 3).astype(np.float32).mean(axis=0)
        vector = (mean / max(float(np.linalg.norm(mean)), 1e-9)).astype(np.float32)
        return Embedding(vector=vector, aligned=pixels, timings=Timings(0.5, 2.0, 0.25))


def solid(rgb: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> bytes:
    """A PNG of one colour."""
    buffer = io.BytesIO()
    Image.new("RGB", size, rgb).save(buffer, format="PNG")
    return buffer.getvalue()
