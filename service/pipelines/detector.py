"""Detector (task ``detect``) and FaceDetector (``face-detect``): preprocess per the model's
``[input]``, run, ``detection.postprocess``, label."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Self

import numpy as np
from numpy.typing import NDArray

from detection import LayoutParams, postprocess
from detection.layouts import detect_layout
from service.pipelines.preprocess import preprocess
from service.pipelines.protocol import LoadedModel, model_info
from service.pipelines.results import DetectionResult, Timings, label_for
from service.pipelines.runner import Runner
from service.pipelines.segments import mask_outline
from service.repository.spec import InputSpec, ModelSpec
from service.runtime.session import ModelSession
from service.timing import StageClock


class Detector:
    """Boxes (and keypoints, for pose and face models) in the upright image's pixels."""

    task: ClassVar[str] = "detect"
    #: The model input that a reduced-scale (fast) decode of an upload must still cover, set
    #: from the spec; None, a full decode, for a pipeline without one.
    fast_input: InputSpec | None = None

    def __init__(self, name: str, spec: ModelSpec, runner: Runner, layout: str) -> None:
        self.spec = spec
        self.fast_input = spec.input
        self.runner = runner
        self.layout = layout
        self.labels = list(spec.labels)
        defaults = spec.postprocess
        thresholds = {
            "confidence": defaults.confidence,
            "iou": defaults.iou,
            "max_detections": defaults.max_detections,
        }
        self.info = model_info(name, spec, runner, layout=layout, thresholds=thresholds)

    @classmethod
    def load(cls, model: LoadedModel) -> Self:
        return cls(model.name, model.spec, model.session, output_layout(model.session, model.spec))

    def warm_up(self) -> None:
        self.run(np.full((*self.spec.input.size, 3), 114, dtype=np.uint8))

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
        """Detect objects in one (H, W, 3) RGB image; None parameters take model.toml's.
        ``image_hw``: the full picture's size when ``pixels`` are a reduced decode of it."""
        defaults = self.spec.postprocess
        clock = StageClock()
        with clock.stage("preprocess"):
            tensor, transform = preprocess(
                pixels, self.spec.input, self.spec.input.stride, image_hw
            )
        with clock.stage("inference"):
            outputs = self.runner.run(tensor)
        with clock.stage("postprocess"):
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
                max_detections=(
                    defaults.max_detections if max_detections is None else max_detections
                ),
                classes=classes,
                class_agnostic=defaults.class_agnostic,
                multi_label=defaults.multi_label,
            )
            labels = [label_for(self.labels, int(class_id)) for class_id in found.class_id]
            outlines = (
                None
                if found.masks is None
                else [mask_outline(mask, transform) for mask in found.masks]
            )
        return DetectionResult(
            model=self.info,
            image_hw=transform.image_hw,
            xyxy=found.xyxy,
            confidence=found.confidence,
            class_id=found.class_id,
            labels=labels,
            keypoints=found.keypoints,
            keypoint_scores=found.keypoint_scores,
            truncated=found.truncated,
            masks=found.masks,
            outlines=outlines,
            rotated=found.rotated,
            transform=transform,
            timings=Timings.of(clock),
        )


class FaceDetector(Detector):
    """A face detector: the same pipeline; face routes ask for this task (5 landmarks)."""

    task: ClassVar[str] = "face-detect"


def output_layout(session: ModelSession, spec: ModelSpec) -> str:
    """The detection layout: model.toml's, else chosen from a real run's output shapes."""
    if spec.output.layout is not None:
        return spec.output.layout
    height, width = spec.input.size
    shape = (1, 3, height, width) if spec.input.layout == "NCHW" else (1, height, width, 3)
    outputs = session.run(np.zeros(shape, dtype=np.float32))
    signature = session.signature()
    return detect_layout(
        [output.shape for output in outputs],
        signature.metadata,
        num_classes=len(spec.labels) or None,
        input_hw=spec.input.size,
        strides=spec.output.strides,
        output_names=[tensor.name for tensor in signature.outputs],
    )
