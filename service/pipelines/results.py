"""What pipelines return: plain dataclasses, no JSON; the API layer shapes the answer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from detection import Transform, xywhr_to_corners
from service.timing import StageClock


@dataclass(frozen=True)
class ModelInfo:
    """Which model answered and on which execution provider it really ran (every answer says
    so), and the rest of what ``GET /models`` shows of a loaded model."""

    name: str
    task: str
    provider: str
    providers_requested: tuple[str, ...] = ()
    providers_used: tuple[str, ...] = ()
    input_size: tuple[int, int] | None = None
    layout: str | None = None
    labels_count: int = 0
    thresholds: Mapping[str, float] = field(default_factory=dict)
    # The resampling filter of its preprocessing (model.toml [input] interpolation, resolved);
    # None for pipelines that resize with a filter of their own (the style models).
    interpolation: str | None = None


@dataclass(frozen=True)
class Timings:
    """Milliseconds spent in each stage after decoding."""

    preprocess_ms: float
    inference_ms: float
    postprocess_ms: float

    @classmethod
    def of(cls, clock: StageClock) -> Timings:
        """The three model stages a pipeline timed on ``clock``."""
        return cls(
            preprocess_ms=clock.ms("preprocess"),
            inference_ms=clock.ms("inference"),
            postprocess_ms=clock.ms("postprocess"),
        )

    @classmethod
    def sum(cls, parts: Sequence[Timings]) -> Timings:
        """Stage by stage, for work that runs several models or several faces."""
        return cls(
            preprocess_ms=round(sum(part.preprocess_ms for part in parts), 3),
            inference_ms=round(sum(part.inference_ms for part in parts), 3),
            postprocess_ms=round(sum(part.postprocess_ms for part in parts), 3),
        )


@dataclass(frozen=True)
class DetectionResult:
    """Detections of one image in its (upright) pixels, best first.

    ``keypoints`` (N, K, 2) with ``keypoint_scores`` (N, K) where the model gives a score per
    keypoint (pose visibility); ``truncated`` when more candidates passed the confidence
    threshold than NMS takes, so weaker ones were never considered. Segmentation models add
    ``masks`` (N, H_in, W_in) in network-input pixels and their ``outlines`` ((K, 2) each) in
    image pixels; oriented-box models add ``rotated`` (N, 5): cx, cy, w, h, angle (radians).
    ``transform`` is the preprocessing record the answer was mapped back with.
    """

    model: ModelInfo
    image_hw: tuple[int, int]
    xyxy: NDArray[np.float32]
    confidence: NDArray[np.float32]
    class_id: NDArray[np.int64]
    labels: list[str]
    timings: Timings
    keypoints: NDArray[np.float32] | None = None
    keypoint_scores: NDArray[np.float32] | None = None
    truncated: bool = False
    masks: NDArray[np.bool_] | None = None
    outlines: list[NDArray[np.float32]] | None = None
    rotated: NDArray[np.float32] | None = None
    transform: Transform | None = None

    def rows(self) -> list[tuple[list[float], float, int, str]]:
        """Each detection's corners, confidence, class id and label, as plain Python values."""
        return list(
            zip(
                self.xyxy.tolist(),
                self.confidence.tolist(),
                self.class_id.tolist(),
                self.labels,
                strict=True,
            )
        )

    def rotated_corners(self) -> NDArray[np.float32] | None:
        """(N, 4, 2) corners of the oriented boxes, in Ultralytics' order; None without them."""
        return None if self.rotated is None else xywhr_to_corners(self.rotated)


@dataclass(frozen=True)
class Prediction:
    """One class of a classification, with its probability."""

    class_id: int
    label: str
    score: float


@dataclass(frozen=True)
class ClassificationResult:
    """The top-k classes of one image, most probable first."""

    model: ModelInfo
    predictions: list[Prediction]
    timings: Timings


@dataclass(frozen=True)
class Embedding:
    """An L2-normalised face embedding and the aligned 112x112 crop it came from."""

    vector: NDArray[np.float32]
    aligned: NDArray[np.uint8]
    timings: Timings


def label_for(labels: Sequence[str], class_id: int) -> str:
    """The class name, or the id as text for a class the label list does not cover."""
    return labels[class_id] if 0 <= class_id < len(labels) else str(class_id)
