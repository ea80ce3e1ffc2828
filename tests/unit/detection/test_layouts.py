import pytest

from detection import LayoutError
from detection.layouts import detect_layout

ULTRALYTICS_V5 = {"stride": "32", "names": "{0: 'person'}"}


@pytest.mark.parametrize(
    ("shapes", "metadata", "classes", "expected"),
    [
        ([(1, 84, 8400)], None, 80, "yolov8"),
        ([(1, 84, 8400)], None, None, "yolov8"),
        (([("batch", 84, "anchors")]), None, None, "yolov8"),
        ([(1, 56, 8400)], {"kpt_shape": "[17, 3]"}, 1, "yolov8"),
        ([(1, 25200, 85)], ULTRALYTICS_V5, 80, "yolov5"),
        ([(1, 25200, 85)], ULTRALYTICS_V5, None, "yolov5"),
        ([(1, 300, 6)], None, 80, "end2end"),
        ([(1, 300, 6)], {"end2end": "True"}, None, "end2end"),
        ([(1, 13, 13, 425)], None, 80, "yolov2"),
        ([(1, 255, 13, 13), (1, 255, 26, 26)], None, 80, "yolov3"),
        ([(1, 4420, 2), (1, 4420, 4)], None, None, "ultraface"),
        ([(1, 16800, 4), (1, 16800, 2), (1, 16800, 10)], None, None, "retinaface"),
        ([(1, 100, 1)] * 6 + [(1, 100, 4)] * 3 + [(1, 100, 10)] * 3, None, None, "yunet"),
        ([(12800, 1)] * 3 + [(12800, 4)] * 3 + [(12800, 10)] * 3, None, None, "scrfd"),
        ([(1, 1, 160, 160), (1, 2, 160, 160), (1, 2, 160, 160), (1, 10, 160, 160)], None, None,
         "centerface"),
    ],
)  # fmt: skip
def test_layout_from_shapes_and_metadata(
    shapes: list[tuple[object, ...]], metadata: dict[str, str] | None, classes: int | None,
    expected: str,
) -> None:  # fmt: skip
    assert detect_layout(shapes, metadata, num_classes=classes) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("shapes", "classes", "message"),
    [
        ([(1, 84, 84)], 80, "square"),  # 4 + nc == N: channels-first or rows?
        ([(1, 3549, 85)], 80, "could be yolox or yolov5"),  # no metadata tells YOLOX from v5
        ([(1, 3549, 85)], None, "could be yolov5 or yolox"),
        ([(1, 8400, 84)], 80, "could be no known layout"),  # transposed v8: refused, not guessed
        ([(1, 2, 3, 4, 5)], None, "no known layout"),
        ([(1, 5)] * 7, None, "cannot tell the layout of 7 outputs"),
    ],
)
def test_ambiguous_or_unknown_outputs_are_refused_loudly(
    shapes: list[tuple[int, ...]], classes: int | None, message: str
) -> None:
    with pytest.raises(LayoutError, match=message) as refused:
        detect_layout(shapes, None, num_classes=classes)
    assert "set [output] layout in model.toml" in str(refused.value) or "no known" in message
