"""Stand-ins for the pipelines and the model registry: the API tests need no model files.

Each fake pipeline subclasses the real one and overrides what it does, so mypy holds it to the
real signatures (a fake that drifts fails the type check); the fake registry implements
``service.pipelines.protocol.Models``. Answers derive from the image size, so tests can compute
what to expect by hand.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from service.pipelines.classifier import Classifier
from service.pipelines.detector import Detector
from service.pipelines.protocol import P, Pipeline
from service.pipelines.registry import ModelNotReadyError, UnknownModelError
from service.pipelines.results import (
    ClassificationResult,
    DetectionResult,
    ModelInfo,
    Prediction,
    Timings,
)
from service.runtime.session import ModelSession

PROVIDER = "CPUExecutionProvider"
DETECT_LABELS = ("person", "bicycle", "car", "bus")
TIMINGS = Timings(preprocess_ms=1.5, inference_ms=7.25, postprocess_ms=0.5)
# Two boxes as fractions of (width, height): (x1, y1, x2, y2), confidence, class id.
FRACTION_BOXES = (
    ((0.1, 0.2, 0.5, 0.8), 0.9, 0),
    ((0.6, 0.1, 0.9, 0.4), 0.6, 3),
)
CLASSIFY_LABELS = ("tabby", "tiger cat", "Egyptian cat", "lynx", "dog", "car", "bus")
CLASSIFY_PROBABILITIES = (0.05, 0.3, 0.4, 0.1, 0.1, 0.03, 0.02)


class FakeDetector(Detector):
    """Finds FRACTION_BOXES scaled to the image; honours ``confidence`` and ``classes``."""

    def __init__(self, name: str = "fake-detector") -> None:  # no model: nothing to pass on
        self.info = ModelInfo(name=name, task="detect", provider=PROVIDER)
        self.labels = list(DETECT_LABELS)
        self.calls: list[dict[str, Any]] = []
        self.gate: threading.Event | None = None  # when set, run waits for it
        self.error: Exception | None = None  # when set, run raises it
        self.truncated = False  # what run reports of the pre-NMS cut

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
        self.calls.append(
            {
                "shape": pixels.shape,
                "dtype": pixels.dtype,
                "confidence": confidence,
                "iou": iou,
                "max_detections": max_detections,
                "classes": None if classes is None else list(classes),
            }
        )
        if self.gate is not None:
            self.gate.wait(timeout=10)
        if self.error is not None:
            raise self.error
        height, width = pixels.shape[:2]
        kept = [
            (box, score, class_id)
            for box, score, class_id in FRACTION_BOXES
            if score >= (confidence or 0.0) and (classes is None or class_id in classes)
        ]
        scale = np.array([width, height, width, height], dtype=np.float32)
        xyxy = np.array([box for box, _, _ in kept], dtype=np.float32).reshape(-1, 4) * scale
        return DetectionResult(
            model=self.info,
            image_hw=(height, width),
            xyxy=xyxy,
            confidence=np.array([score for _, score, _ in kept], dtype=np.float32),
            class_id=np.array([class_id for _, _, class_id in kept], dtype=np.int64),
            labels=[DETECT_LABELS[class_id] for _, _, class_id in kept],
            timings=TIMINGS,
            truncated=self.truncated,
        )


class FakeClassifier(Classifier):
    """Always the same probabilities, whatever the image; top-k of them."""

    def __init__(self, name: str = "fake-classifier") -> None:  # no model: nothing to pass on
        self.info = ModelInfo(name=name, task="classify", provider=PROVIDER)
        self.labels = list(CLASSIFY_LABELS)
        self.calls: list[dict[str, Any]] = []

    def run(
        self,
        pixels: NDArray[np.uint8],
        *,
        top_k: int = 5,
        image_hw: tuple[int, int] | None = None,
    ) -> ClassificationResult:
        self.calls.append({"shape": pixels.shape, "top_k": top_k})
        order = sorted(range(len(CLASSIFY_LABELS)), key=lambda i: -CLASSIFY_PROBABILITIES[i])
        return ClassificationResult(
            model=self.info,
            predictions=[
                Prediction(class_id=i, label=CLASSIFY_LABELS[i], score=CLASSIFY_PROBABILITIES[i])
                for i in order[:top_k]
            ],
            timings=TIMINGS,
        )


class FakeRegistry:
    """The registry contract over ready-made pipelines; ``load_all`` can be held by a gate.

    ``sessions`` are models served only as raw sessions (real ``ModelSession``s over tiny
    graphs), as the Open Inference Protocol routes reach them.
    """

    def __init__(
        self,
        *pipelines: Pipeline,
        loaded: bool = True,
        sessions: Mapping[str, ModelSession] | None = None,
    ) -> None:
        self.pipelines = {pipeline.info.name: pipeline for pipeline in pipelines}
        self.sessions = dict(sessions or {})
        names = [*self.pipelines, *self.sessions]
        self.statuses = {name: "ready" if loaded else "loading" for name in names}
        self.load_gate = threading.Event()  # load_all waits for it; open unless loading
        self.loaded = threading.Event()
        if loaded:
            self.load_gate.set()

    def load_all(self) -> None:
        self.load_gate.wait(timeout=10)
        for name in self.statuses:
            self.statuses[name] = "ready"
        self.loaded.set()

    def status(self) -> dict[str, str]:
        return dict(self.statuses)

    @property
    def ready(self) -> bool:
        return all(status == "ready" for status in self.statuses.values())

    def get(self, kind: type[P], name: str | None = None) -> P:
        task = kind.task
        serving = [n for n, p in self.pipelines.items() if p.info.task == task]
        if name is None:
            if not serving:
                raise UnknownModelError(f"no model serves task {task!r}")
            name = serving[0]
        if name not in serving:
            raise UnknownModelError(f"no {task} model named {name!r}; {task} models: {serving}")
        if self.statuses[name] != "ready":
            raise ModelNotReadyError(f"model {name!r} is not ready: {self.statuses[name]}")
        pipeline = self.pipelines[name]
        assert isinstance(pipeline, kind), f"{name} is a {type(pipeline).__name__}, not a {kind}"
        return pipeline

    def session(self, name: str) -> ModelSession:
        if name not in self.statuses:
            raise UnknownModelError(f"no model named {name!r}; models: {list(self.statuses)}")
        if self.statuses[name] != "ready" or name not in self.sessions:
            raise ModelNotReadyError(f"model {name!r} is not ready: {self.statuses[name]}")
        return self.sessions[name]

    def reload(self) -> list[str]:
        return []

    def watch(self, stop: threading.Event, interval_s: float) -> None:
        stop.wait()

    def describe(self) -> list[dict[str, object]]:
        return [
            {
                "name": name,
                "status": self.statuses[name],
                "task": pipeline.info.task,
                "providers_requested": ["CUDAExecutionProvider", PROVIDER],
                "providers_used": [PROVIDER],
                "input_size": [416, 416],
                "labels_count": len(getattr(pipeline, "labels", ())),
                "thresholds": {"confidence": 0.25, "iou": 0.45},
            }
            for name, pipeline in self.pipelines.items()
        ]


def encode(
    width: int = 64,
    height: int = 48,
    fmt: str = "PNG",
    *,
    exif_orientation: int | None = None,
) -> bytes:
    """A small picture in ``fmt``; a horizontal gradient so it is not blank."""
    row = np.linspace(0, 255, width, dtype=np.uint8)
    pixels = np.stack([np.tile(row, (height, 1))] * 3, axis=-1)
    image = Image.fromarray(pixels)
    buffer = io.BytesIO()
    if exif_orientation is None:
        image.save(buffer, format=fmt)
    else:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        image.save(buffer, format=fmt, exif=exif)
    return buffer.getvalue()
