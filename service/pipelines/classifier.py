"""Classifier: preprocess per config, run, softmax when the model gives logits, top-k."""

from __future__ import annotations

import time

import numpy as np
from numpy.typing import NDArray

from service.pipelines.preprocess import preprocess
from service.pipelines.results import (
    ClassificationResult,
    ModelInfo,
    Prediction,
    Timings,
    label_for,
)
from service.pipelines.runner import Runner
from service.repository.spec import ModelSpec


def softmax(logits: NDArray[np.float32]) -> NDArray[np.float32]:
    """Numerically stable softmax over the last axis."""
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probabilities: NDArray[np.float32] = shifted / shifted.sum(axis=-1, keepdims=True)
    return probabilities.astype(np.float32, copy=False)


class Classifier:
    """Top-k ImageNet-style predictions with probabilities that sum to one."""

    def __init__(self, name: str, spec: ModelSpec, runner: Runner) -> None:
        self.spec = spec
        self.runner = runner
        self.labels = list(spec.labels)
        self.info = ModelInfo(name=name, task=spec.task, provider=runner.providers_used[0])

    def run(self, pixels: NDArray[np.uint8], *, top_k: int = 5) -> ClassificationResult:
        """Classify one (H, W, 3) RGB image."""
        start = time.perf_counter()
        tensor, _ = preprocess(pixels, self.spec.input, self.spec.input.stride)
        prepared = time.perf_counter()
        scores = np.asarray(self.runner.run(tensor)[0], dtype=np.float32).reshape(-1)
        inferred = time.perf_counter()
        probabilities = softmax(scores) if self.spec.output.kind == "logits" else scores
        best = np.argsort(-probabilities, kind="stable")[:top_k]
        predictions = [
            Prediction(
                class_id=int(i), label=label_for(self.labels, int(i)), score=float(probabilities[i])
            )
            for i in best
        ]
        done = time.perf_counter()
        return ClassificationResult(
            model=self.info,
            predictions=predictions,
            timings=Timings.between(start, prepared, inferred, done),
        )
