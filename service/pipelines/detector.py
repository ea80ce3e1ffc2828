"""Detector and FaceDetector: preprocess per config, run, `detection.postprocess`, label."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from detection import LayoutParams, postprocess
from service.pipelines.preprocess import preprocess
from service.pipelines.results import DetectionResult, ModelInfo, Timings, label_for
from service.pipelines.runner import Runner
from service.repository.spec import ModelSpec


class Detector:
    """Boxes (and keypoints, for pose and face models) in the upright image's pixels."""

    def __init__(self, name: str, spec: ModelSpec, runner: Runner, layout: str) -> None:
        self.spec = spec
        self.runner = runner
        self.layout = layout
        self.labels = list(spec.labels)
        self.info = ModelInfo(name=name, task=spec.task, provider=runner.providers_used[0])

    def run(
        self,
        pixels: NDArray[np.uint8],
        *,
        confidence: float | None = None,
        iou: float | None = None,
        max_detections: int | None = None,
        classes: Sequence[int] | None = None,
    ) -> DetectionResult:
        """Detect objects in one (H, W, 3) RGB image; None parameters take model.toml's."""
        defaults = self.spec.postprocess
        start = time.perf_counter()
        tensor, transform = preprocess(pixels, self.spec.input, self.spec.input.stride)
        prepared = time.perf_counter()
        outputs = self.runner.run(tensor)
        inferred = time.perf_counter()
        params = LayoutParams(
            input_hw=transform.input_hw,
            strides=self.spec.output.strides,
            anchors=self.spec.output.anchors,
            num_classes=len(self.labels) or None,
            num_keypoints=self.spec.output.num_keypoints,
        )
        (found,) = postprocess(
            [np.asarray(output, dtype=np.float32) for output in outputs],
            transform,
            layout=self.layout,
            params=params,
            confidence=defaults.confidence if confidence is None else confidence,
            iou=defaults.iou if iou is None else iou,
            max_detections=defaults.max_detections if max_detections is None else max_detections,
            classes=classes,
            class_agnostic=defaults.class_agnostic,
            multi_label=defaults.multi_label,
        )
        done = time.perf_counter()
        return DetectionResult(
            model=self.info,
            image_hw=transform.image_hw,
            xyxy=found.xyxy,
            confidence=found.confidence,
            class_id=found.class_id,
            labels=[label_for(self.labels, int(class_id)) for class_id in found.class_id],
            keypoints=found.keypoints,
            timings=Timings.between(start, prepared, inferred, done),
        )
