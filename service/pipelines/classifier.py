"""Classifier: preprocess per config, run, softmax when the model gives logits, top-k."""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np
from numpy.typing import NDArray

from service.pipelines.preprocess import preprocess
from service.pipelines.protocol import LoadedModel, model_info
from service.pipelines.results import ClassificationResult, Prediction, Timings, label_for
from service.pipelines.runner import Runner
from service.repository.spec import ModelSpec
from service.timing import StageClock


def softmax(logits: NDArray[np.float32]) -> NDArray[np.float32]:
    """Numerically stable softmax over the last axis."""
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probabilities: NDArray[np.float32] = shifted / shifted.sum(axis=-1, keepdims=True)
    return probabilities.astype(np.float32, copy=False)


class Classifier:
    """Top-k ImageNet-style predictions with probabilities that sum to one."""

    task: ClassVar[str] = "classify"

    def __init__(self, name: str, spec: ModelSpec, runner: Runner) -> None:
        self.spec = spec
        self.runner = runner
        self.labels = list(spec.labels)
        self.info = model_info(name, spec, runner)

    @classmethod
    def load(cls, model: LoadedModel) -> Self:
        return cls(model.name, model.spec, model.session)

    def warm_up(self) -> None:
        self.run(np.full((*self.spec.input.size, 3), 114, dtype=np.uint8))

    def run(self, pixels: NDArray[np.uint8], *, top_k: int = 5) -> ClassificationResult:
        """Classify one (H, W, 3) RGB image."""
        clock = StageClock()
        with clock.stage("preprocess"):
            tensor, _ = preprocess(pixels, self.spec.input, self.spec.input.stride)
        with clock.stage("inference"):
            scores = np.asarray(self.runner.run(tensor)[0], dtype=np.float32).reshape(-1)
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
