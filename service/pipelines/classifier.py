"""Classifier: preprocess per config, run, softmax when the model gives logits, top-k.

A second softmax over probabilities squashes every score towards 1/classes (0.001 for ImageNet)
while keeping the order, so the answer looks plausible and is wrong; the warm-up run therefore
checks what a ``logits`` model really gives and warns at start-up when it is a distribution.
"""

from __future__ import annotations

import logging
from typing import ClassVar, Self

import numpy as np
from numpy.typing import NDArray

from service.pipelines.preprocess import preprocess
from service.pipelines.protocol import LoadedModel, model_info
from service.pipelines.results import ClassificationResult, Prediction, Timings, label_for
from service.pipelines.runner import Runner
from service.repository.spec import InputSpec, ModelSpec
from service.timing import StageClock

logger = logging.getLogger(__name__)
# How far from 1 a sum of float32 probabilities over ~1000 classes may be.
_SUM_TOLERANCE = 1e-3


def softmax(logits: NDArray[np.float32]) -> NDArray[np.float32]:
    """Numerically stable softmax over the last axis."""
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probabilities: NDArray[np.float32] = shifted / shifted.sum(axis=-1, keepdims=True)
    return probabilities.astype(np.float32, copy=False)


class Classifier:
    """Top-k ImageNet-style predictions with probabilities that sum to one."""

    task: ClassVar[str] = "classify"
    #: The model input that a reduced-scale (fast) decode of an upload must still cover, set
    #: from the spec; None, a full decode, for a pipeline without one.
    fast_input: InputSpec | None = None

    def __init__(self, name: str, spec: ModelSpec, runner: Runner) -> None:
        self.spec = spec
        self.fast_input = spec.input
        self.runner = runner
        self.labels = list(spec.labels)
        self.info = model_info(name, spec, runner)

    @classmethod
    def load(cls, model: LoadedModel) -> Self:
        return cls(model.name, model.spec, model.session)

    def warm_up(self) -> None:
        """One run; warns when a model declared ``logits`` already outputs probabilities."""
        scores = self._scores(np.full((*self.spec.input.size, 3), 114, dtype=np.uint8))
        if self.spec.output.kind == "logits" and is_distribution(scores):
            logger.warning(
                "%s: output.kind is 'logits', but its warm-up output is already a probability "
                "distribution (%d scores in [0, 1] summing to %.6f): a second softmax would "
                'flatten every score towards %.4g; set [output] kind = "probabilities" in '
                "its model.toml",
                self.info.name,
                scores.size,
                float(scores.sum(dtype=np.float64)),
                1 / scores.size,
            )

    def run(
        self,
        pixels: NDArray[np.uint8],
        *,
        top_k: int = 5,
        image_hw: tuple[int, int] | None = None,
    ) -> ClassificationResult:
        """Classify one (H, W, 3) RGB image (``image_hw``: the full picture's size when
        ``pixels`` are a reduced decode of it)."""
        clock = StageClock()
        scores = self._scores(pixels, clock, image_hw)
        with clock.stage("postprocess"):
            probabilities = softmax(scores) if self.spec.output.kind == "logits" else scores
            best = np.argsort(-probabilities, kind="stable")[:top_k]
            predictions = [
                Prediction(
                    class_id=int(i),
                    label=label_for(self.labels, int(i)),
                    score=float(probabilities[i]),
                )
                for i in best
            ]
        return ClassificationResult(
            model=self.info, predictions=predictions, timings=Timings.of(clock)
        )

    def _scores(
        self,
        pixels: NDArray[np.uint8],
        clock: StageClock | None = None,
        image_hw: tuple[int, int] | None = None,
    ) -> NDArray[np.float32]:
        """The model's raw output for one image, flattened (preprocess and inference timed)."""
        clock = clock or StageClock()
        with clock.stage("preprocess"):
            tensor, _ = preprocess(pixels, self.spec.input, self.spec.input.stride, image_hw)
        with clock.stage("inference"):
            return np.asarray(self.runner.run(tensor)[0], dtype=np.float32).reshape(-1)


def is_distribution(scores: NDArray[np.float32]) -> bool:
    """Scores in [0, 1] that sum to 1: probabilities, not logits (which have no such bounds)."""
    if scores.size < 2 or not np.isfinite(scores).all():
        return False
    total = float(scores.sum(dtype=np.float64))
    return bool(scores.min() >= 0 and scores.max() <= 1 and abs(total - 1) <= _SUM_TOLERANCE)
