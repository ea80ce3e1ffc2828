"""Classifier: one softmax, only for logits; a warm-up warning when "logits" are probabilities."""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from service.pipelines.classifier import Classifier, is_distribution, softmax
from service.repository.config import parse_config
from service.repository.metadata import ModelSignature, TensorInfo
from service.repository.spec import resolve_spec

LABELS = ["cat", "dog", "bus", "car"]
LOGITS = np.array([2.0, 1.0, 0.0, -1.0], np.float32)


class FixedRunner:
    """Always the same output row, whatever the input."""

    providers_requested = ("CPUExecutionProvider",)
    providers_used = ("CPUExecutionProvider",)

    def __init__(self, output: NDArray[np.float32]) -> None:
        self.output = output

    def run(self, inputs: NDArray[Any] | Mapping[str, NDArray[Any]]) -> list[NDArray[Any]]:
        return [self.output[None]]


def classifier(output: NDArray[np.float32], toml: str = "") -> Classifier:
    config = parse_config(tomllib.loads(f'task = "classify"\n{toml}'), source="model.toml")
    signature = ModelSignature(
        inputs=(TensorInfo("x", (1, 3, 8, 8), "tensor(float)"),),
        outputs=(TensorInfo("y", (1, len(LABELS)), "tensor(float)"),),
        metadata={},
    )
    return Classifier("c", resolve_spec(config, signature, LABELS), FixedRunner(output))


def picture() -> NDArray[np.uint8]:
    return np.zeros((10, 12, 3), np.uint8)


def test_logits_get_one_softmax() -> None:
    result = classifier(LOGITS).run(picture(), top_k=4)
    assert [p.label for p in result.predictions] == LABELS
    np.testing.assert_allclose([p.score for p in result.predictions], softmax(LOGITS), rtol=1e-6)


def test_probabilities_are_reported_as_they_are() -> None:
    probabilities = softmax(LOGITS)
    model = classifier(probabilities, '[output]\nkind = "probabilities"')
    result = model.run(picture(), top_k=2)
    assert [p.score for p in result.predictions] == pytest.approx(probabilities[:2].tolist())


def test_warm_up_warns_when_logits_already_sum_to_one(caplog: pytest.LogCaptureFixture) -> None:
    model = classifier(softmax(LOGITS))  # kind defaults to "logits" without Ultralytics metadata
    with caplog.at_level(logging.WARNING, logger="service.pipelines.classifier"):
        model.warm_up()
    (record,) = caplog.records
    assert "c: output.kind is 'logits'" in record.getMessage()
    assert 'kind = "probabilities"' in record.getMessage()


@pytest.mark.parametrize(
    ("output", "toml"),
    [(LOGITS, ""), (softmax(LOGITS), '[output]\nkind = "probabilities"')],
)
def test_warm_up_is_quiet_when_the_kind_fits(
    output: NDArray[np.float32], toml: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="service.pipelines.classifier"):
        classifier(output, toml).warm_up()
    assert caplog.records == []


def test_is_distribution() -> None:
    assert is_distribution(np.full(1000, 1e-3, np.float32))
    assert not is_distribution(np.full(1000, 1e-3, np.float32) * 2)  # sums to 2
    assert not is_distribution(np.array([1.5, -0.5], np.float32))  # sums to 1, not in [0, 1]
    assert not is_distribution(np.array([1.0], np.float32))  # one class: no evidence
    assert not is_distribution(np.array([np.nan, 1.0], np.float32))
