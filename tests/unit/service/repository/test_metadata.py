"""The repository's view of a model: tensor types, and metadata refusals naming the model file.

Parsing the Ultralytics keys themselves is detection's (tests/unit/detection/test_metadata.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from service.repository.errors import ModelConfigError
from service.repository.metadata import TensorInfo, read_ultralytics
from tests.unit.detection.test_metadata import MALFORMED, YOLOV8


def test_reads_an_ultralytics_detect_export() -> None:
    meta = read_ultralytics(YOLOV8, source="m.onnx")
    assert (meta.names, meta.imgsz, meta.task) == (
        ("person", "bicycle", "car"),
        (640, 480),
        "detect",
    )


@pytest.mark.parametrize(("key", "text", "expected"), MALFORMED)
def test_malformed_metadata_is_refused_naming_model_and_key(
    key: str, text: str, expected: str
) -> None:
    with pytest.raises(ModelConfigError) as caught:
        read_ultralytics({key: text}, source="models/x/model.onnx")
    message = str(caught.value)
    assert message.startswith("models/x/model.onnx: ONNX metadata")
    assert repr(key) in message
    assert expected in message


@pytest.mark.parametrize(
    ("shape", "axis", "expected"),
    [
        ((1, 3, 640, 640), 2, 640),
        ((1, 3, "h", "w"), 2, None),
        ((None, 3), 0, None),
        ((0,), 0, None),
    ],
)
def test_static_dim_is_only_a_fixed_positive_size(
    shape: tuple[int | str | None, ...], axis: int, expected: int | None
) -> None:
    assert TensorInfo("x", shape, "tensor(float)").static_dim(axis) == expected


@pytest.mark.parametrize(
    ("ort_type", "expected"),
    [
        ("tensor(float)", np.dtype(np.float32)),
        ("tensor(float16)", np.dtype(np.float16)),
        ("tensor(double)", np.dtype(np.float64)),
        ("tensor(uint8)", np.dtype(np.uint8)),
        ("tensor(int64)", np.dtype(np.int64)),
        ("tensor(bool)", np.dtype(np.bool_)),
        ("tensor(string)", None),
    ],
)
def test_numpy_dtype_of_onnxruntime_types(ort_type: str, expected: np.dtype | None) -> None:
    assert TensorInfo("x", (1,), ort_type).numpy_dtype == expected
