"""Ultralytics ONNX metadata: parsed as literals only, refused by key when malformed."""

from __future__ import annotations

import pytest

from service.repository.errors import ModelConfigError
from service.repository.metadata import TensorInfo, read_ultralytics

# The metadata an Ultralytics 8.x detect export writes (values are str() of Python objects).
YOLOV8 = {
    "author": "Ultralytics",
    "stride": "32",
    "task": "detect",
    "batch": "1",
    "imgsz": "[640, 480]",
    "names": "{0: 'person', 1: 'bicycle', 2: 'car'}",
    "end2end": "False",
    "args": "{'batch': 1, 'dynamic': False}",
}


def test_reads_an_ultralytics_detect_export() -> None:
    meta = read_ultralytics(YOLOV8, source="m.onnx")
    assert meta.names == ("person", "bicycle", "car")
    assert meta.imgsz == (640, 480)
    assert meta.stride == 32
    assert meta.task == "detect"
    assert meta.num_keypoints == 0
    assert meta.end2end is False


def test_reads_pose_and_end2end_exports() -> None:
    meta = read_ultralytics(
        {"task": "pose", "kpt_shape": "[17, 3]", "end2end": "True", "names": "{0: 'person'}"},
        source="m.onnx",
    )
    assert (meta.task, meta.num_keypoints, meta.end2end) == ("pose", 17, True)


def test_no_metadata_means_nothing_known() -> None:
    meta = read_ultralytics({}, source="m.onnx")
    assert (meta.names, meta.imgsz, meta.stride, meta.task) == (None, None, None, None)
    assert (meta.num_keypoints, meta.end2end) == (0, False)


@pytest.mark.parametrize(
    ("key", "text", "expected"),
    [
        ("imgsz", "640", (640, 640)),
        ("imgsz", "(320, 256)", (320, 256)),
        ("names", "['cat', 'dog']", ("cat", "dog")),
        ("names", "{1: 'dog', 0: 'cat'}", ("cat", "dog")),
        ("stride", "[8, 16, 32]", 32),
        ("stride", "64.0", 64),
    ],
)
def test_accepted_spellings(key: str, text: str, expected: object) -> None:
    assert getattr(read_ultralytics({key: text}, source="m.onnx"), key) == expected


@pytest.mark.parametrize(
    ("key", "text", "expected"),
    [
        ("names", "__import__('os').system('false')", "not a Python literal"),
        ("names", "{0: 'a', 2: 'c'}", "indices 0..n-1"),
        ("names", "{0: 1}", "indices 0..n-1"),
        ("names", "'person'", "indices 0..n-1"),
        ("imgsz", "[640]", "[height, width]"),
        ("imgsz", "[640, -1]", "[height, width]"),
        ("imgsz", "True", "[height, width]"),
        ("stride", "'32'", "positive integer"),
        ("stride", "0", "positive integer"),
        ("kpt_shape", "[17, 2]", "[keypoints, 3]"),
        ("kpt_shape", "17", "[keypoints, 3]"),
    ],
)
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
