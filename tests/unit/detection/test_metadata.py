"""Ultralytics ONNX metadata: parsed as literals only, refused by key when malformed."""

from __future__ import annotations

import pytest

from detection import MetadataError
from detection.metadata import UltralyticsMetadata, parse_ultralytics

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

# (key, text, what the refusal says is expected): every present but malformed value.
MALFORMED = [
    ("names", "__import__('os').system('false')", "not a Python literal"),
    ("names", "{0: 'a', 2: 'c'}", "indices 0..n-1"),
    ("names", "{0: 1}", "indices 0..n-1"),
    ("names", "'person'", "indices 0..n-1"),
    ("names", "{}", "non-empty"),
    ("names", "{True: 'a'}", "indices 0..n-1"),
    ("names", "{0: 'a', 'x': 'b'}", "indices 0..n-1"),  # mixed keys: no TypeError from sorting
    ("imgsz", "[640]", "[height, width]"),
    ("imgsz", "[640, -1]", "[height, width]"),
    ("imgsz", "True", "[height, width]"),
    ("stride", "'32'", "positive integer"),
    ("stride", "0", "positive integer"),
    ("stride", "[]", "positive integer"),
    ("stride", "32.5", "positive integer"),
    ("kpt_shape", "[17, 2]", "[keypoints, 3]"),
    ("kpt_shape", "17", "[keypoints, 3]"),
    ("end2end", "1", "True or False"),
    ("end2end", "true", "not a Python literal"),
    ("task", " ", "a task such as 'detect'"),
    ("head", "", "a head class such as 'Detect'"),
]


def test_reads_an_ultralytics_detect_export() -> None:
    meta = parse_ultralytics(YOLOV8)
    assert meta.names == ("person", "bicycle", "car")
    assert meta.imgsz == (640, 480)
    assert meta.stride == 32
    assert meta.task == "detect"
    assert meta.num_keypoints == 0
    assert meta.end2end is False


def test_reads_pose_and_end2end_exports() -> None:
    meta = parse_ultralytics(
        {"task": "pose", "kpt_shape": "[17, 3]", "end2end": "True", "names": "{0: 'person'}"}
    )
    assert (meta.task, meta.num_keypoints, meta.end2end) == ("pose", 17, True)


def test_the_head_class_tells_rtdetr_from_yolo() -> None:
    rtdetr = parse_ultralytics({**YOLOV8, "head": "RTDETRDecoder"})  # rtdetr-l, Ultralytics 8.4.190
    assert (rtdetr.head, rtdetr.rtdetr, rtdetr.end2end) == ("RTDETRDecoder", True, False)
    yolo = parse_ultralytics({**YOLOV8, "head": " Detect\n"})
    assert (yolo.head, yolo.rtdetr) == ("Detect", False)
    assert parse_ultralytics(YOLOV8).head is None  # exporters before the key: unknown


def test_no_metadata_means_nothing_known() -> None:
    meta = parse_ultralytics({})
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
        ("task", " detect\n", "detect"),
    ],
)
def test_accepted_spellings(key: str, text: str, expected: object) -> None:
    assert getattr(parse_ultralytics({key: text}), key) == expected


@pytest.mark.parametrize(("key", "text", "expected"), MALFORMED)
def test_malformed_metadata_is_refused_naming_key_and_value(
    key: str, text: str, expected: str
) -> None:
    with pytest.raises(MetadataError) as caught:
        parse_ultralytics({key: text})
    message = str(caught.value)
    assert message.startswith(f"ONNX metadata {key!r}")
    assert expected in message


@pytest.mark.parametrize(
    ("stride", "strides"),
    [
        (None, (8, 16, 32)),  # no metadata: the three usual FPN levels
        (32, (8, 16, 32)),
        (64, (8, 16, 32, 64)),  # P6
        (4, (4,)),  # smaller than the first usual level: that stride alone
    ],
)
def test_strides_run_from_8_up_to_the_largest(stride: int | None, strides: tuple[int, ...]) -> None:
    assert UltralyticsMetadata(stride=stride).strides == strides
