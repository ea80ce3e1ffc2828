"""Layout detection: real exporters' shapes and metadata, and refusals where they are ambiguous.

Shapes and metadata are those of the models in shared/models/MANIFEST.md and the ultralytics
oracle (cases.json); the grid sums are worked out in comments.
"""

import pytest

from detection import LayoutError, MetadataError
from detection.layouts import detect_layout


def names(count: int) -> str:
    return "{" + ", ".join(f"{i}: '{i}'" for i in range(count)) + "}"


# ultralytics 8.x export metadata (oracle cases.json), and the YOLOv5 repository's.
ULTRALYTICS = {"task": "detect", "stride": "32", "names": names(80), "end2end": "False"}
ULTRALYTICS_POSE = {**ULTRALYTICS, "task": "pose", "names": names(1), "kpt_shape": "[17, 3]"}
ULTRALYTICS_E2E = {**ULTRALYTICS, "end2end": "True"}
# Newer exporters (8.4.115 and 8.4.190 do, 8.4.60 does not) also name the head's class.
ULTRALYTICS_NMS = {**ULTRALYTICS, "head": "Detect"}  # nms=True: [1, 300, 6] with end2end=False
ULTRALYTICS_RTDETR = {**ULTRALYTICS, "head": "RTDETRDecoder"}  # rtdetr-l: [1, 300, 6] too
YOLOV5_REPO = {"stride": "32", "names": names(80)}

# 640x640 at strides 8/16/32: 80*80 + 40*40 + 20*20 = 8400 cells; 416x416: 52*52 + 26*26 +
# 13*13 = 3549; 320x416 (h x w): 40*52 + 20*26 + 10*13 = 2730.
FACE_CASES = [
    ([(1, 4420, 2), (1, 4420, 4)], "ultraface"),
    ([(1, 16800, 4), (1, 16800, 2), (1, 16800, 10)], "retinaface"),
    ([(1, 100, 1)] * 6 + [(1, 100, 4)] * 3 + [(1, 100, 10)] * 3, "yunet"),
    ([(12800, 1), (3200, 1), (800, 1), (12800, 4), (3200, 4), (800, 4)] + [(800, 10)] * 3, "scrfd"),
    ([(1, 12800, 1)] * 3 + [(1, 12800, 4)] * 3, "scrfd"),  # without keypoints
    ([(1, 1, 160, 160), (1, 2, 160, 160), (1, 2, 160, 160), (1, 10, 160, 160)], "centerface"),
]


@pytest.mark.parametrize(
    ("shapes", "metadata", "classes", "input_hw", "expected"),
    [
        # ultralytics v8/v11: channel-first, by shape alone, by class count, by names metadata
        ([(1, 84, 8400)], None, None, None, "yolov8"),
        ([(1, 84, 8400)], None, 80, None, "yolov8"),
        ([(1, 84, 8400)], ULTRALYTICS, None, (640, 640), "yolov8"),
        ([("batch", 84, "anchors")], ULTRALYTICS, None, None, "yolov8"),  # dynamic export
        ([(1, 7, 2100)], {**ULTRALYTICS, "names": names(3)}, None, (320, 320), "yolov8"),
        ([(1, 56, 8400)], ULTRALYTICS_POSE, None, None, "yolov8"),
        # NMS-free and nms=True exports
        ([(1, 300, 6)], ULTRALYTICS_E2E, None, None, "end2end"),
        ([(1, 300, 6)], ULTRALYTICS_NMS, None, None, "end2end"),  # a YOLO head, end2end=False
        ([(1, 300, "values")], ULTRALYTICS_E2E, None, None, "end2end"),  # only metadata says so
        # RT-DETR: the same [B, K, 6] shape, told apart by the head's name only
        ([(1, 300, 6)], ULTRALYTICS_RTDETR, None, None, "rtdetr"),
        ([(1, 300, 6)], {**ULTRALYTICS_RTDETR, "names": names(1)}, None, (640, 640), "rtdetr"),
        ([("batch", 300, "anchors")], ULTRALYTICS_RTDETR, None, None, "rtdetr"),  # dynamic
        # YOLOv5 repository: by its metadata, or by 3 rows per cell
        ([(1, 25200, 85)], YOLOV5_REPO, None, None, "yolov5"),
        ([(1, 25200, 85)], None, 80, (640, 640), "yolov5"),
        # YOLOX (no metadata): one row per cell
        ([(1, 3549, 85)], None, 80, (416, 416), "yolox"),
        ([(1, 2730, 85)], None, 80, (320, 416), "yolox"),
        ([(1, 2730, 85)], None, None, (320, 416), "yolox"),
        # one class: six values per row, told apart by the grid
        ([(1, 25200, 6)], None, 1, (640, 640), "yolov5"),
        ([(1, 8400, 6)], None, 1, (640, 640), "yolox"),
        # classic anchor grids
        ([(1, 13, 13, 425)], None, 80, None, "yolov2"),
        ([(1, 255, 13, 13), (1, 255, 26, 26)], None, 80, None, "yolov3"),
        ([(1, 3, 80, 80, 85), (1, 3, 40, 40, 85), (1, 3, 20, 20, 85)], None, 80, None, "yolov3"),
        ([(1, 255, 20, 20), (1, 255, 40, 40), (1, 255, 80, 80), (1, 255, 10, 10)], None, 80, None,
         "yolov3"),  # four heads (P6) are not CenterFace's four maps
        *[(shapes, None, None, None, layout) for shapes, layout in FACE_CASES],
    ],
)  # fmt: skip
def test_layout_from_shapes_and_metadata(
    shapes: list[tuple[object, ...]],
    metadata: dict[str, str] | None,
    classes: int | None,
    input_hw: tuple[int, int] | None,
    expected: str,
) -> None:
    found = detect_layout(shapes, metadata, num_classes=classes, input_hw=input_hw)  # type: ignore[arg-type]
    assert found == expected


def test_yolov5_p6_grid_uses_strides_up_to_the_metadata_stride() -> None:
    # 1280x1280 at strides 8..64: 160^2 + 80^2 + 40^2 + 20^2 = 34000 cells, 3 anchors each.
    shape = [(1, 102000, 85)]
    assert detect_layout(shape, None, 80, input_hw=(1280, 1280), strides=(8, 16, 32, 64)) == (
        "yolov5"
    )
    with pytest.raises(LayoutError, match="could be no known layout"):
        detect_layout(shape, None, 80, input_hw=(1280, 1280))  # 8/16/32: 3 x 33600 rows
    p6 = {**YOLOV5_REPO, "stride": "64"}
    assert detect_layout(shape, p6, input_hw=(1280, 1280)) == "yolov5"


def test_yunet_is_recognised_by_its_output_names() -> None:
    output_names = [f"{role}_{s}" for role in ("cls", "obj", "bbox", "kps") for s in (8, 16, 32)]
    dynamic = [("batch", "n", 1)] * 12  # symbolic shapes alone say nothing
    assert detect_layout(dynamic, output_names=output_names) == "yunet"
    with pytest.raises(LayoutError, match="cannot tell the layout of 12 outputs"):
        detect_layout(dynamic, output_names=[f"out{i}" for i in range(12)])


@pytest.mark.parametrize(
    ("shapes", "metadata", "classes", "input_hw", "message"),
    [
        ([(1, 84, 84)], None, 80, None, "square"),  # 4 + nc == N: channels-first or rows?
        ([(1, 85, 85)], None, None, None, "square"),
        # no metadata and no input size: nothing tells YOLOX from YOLOv5
        ([(1, 3549, 85)], None, 80, None, r"could be yolov5 or yolox; set \[output\] layout"),
        ([(1, 3549, 85)], None, None, None, "could be yolov5 or yolox"),
        # the grid contradicts both: 3549 rows, but 640x640 has 8400 cells
        ([(1, 3549, 85)], None, 80, (640, 640), "YOLOX would have 8400 rows, YOLOv5 25200"),
        ([(1, 84, 85)], None, 80, None, "could be yolov8 or yolov5 or yolox"),
        ([(1, 300, 6)], None, 1, None, "could be yolov5 or yolox or end2end"),
        # end-to-end YOLO or RT-DETR rows: nothing but metadata tells them apart
        ([(1, 300, 6)], None, None, None, r"could be end2end or rtdetr \(end2end rows are x1 y1"),
        ([(1, 300, 6)], None, 80, None, "could be end2end or rtdetr"),
        ([("batch", "detections", 6)], None, None, None, "could be end2end or rtdetr"),
        ([(1, 300, 6)], None, 1, (640, 640), "could be end2end or rtdetr"),  # grid: not v5/YOLOX
        ([(1, 300, 6)], ULTRALYTICS, None, None, "could be end2end or rtdetr"),  # no head key
        ([(1, 8400, 84)], None, 80, None, "could be no known layout"),  # transposed v8: refused
        ([(1, 8400, 84)], ULTRALYTICS, None, None, "could be no known layout"),
        # metadata contradicting the shape
        ([(1, 25200, 85)], ULTRALYTICS, None, None, "ultralytics metadata .* allows only end2end"),
        ([(1, 84, 8400)], ULTRALYTICS_E2E, None, None, "end2end=True allows only end2end"),
        ([(1, 84, 8400)], ULTRALYTICS_RTDETR, None, None, "head=RTDETRDecoder allows only rtdetr"),
        ([(1, 84, 8400)], YOLOV5_REPO, None, None, "YOLOv5-repository metadata"),
        ([(1, 7, 2100)], ULTRALYTICS, None, None, "with 80 classes"),  # names say 80, not 3
        ([(1, 25200, 85)], YOLOV5_REPO, None, (416, 416), "YOLOv5 10647"),
        # no single-output layout of other ranks; unknown or indistinct multi-output sets
        ([(1, 2, 3, 4, 5)], None, None, None, "no known layout has a single output"),
        ([(1, 8400)], None, None, None, "no known layout has a single output"),
        ([(1, 5)] * 7, None, None, None, "cannot tell the layout of 7 outputs"),
        ([(1, 255, 13, 13)] * 2, None, 80, None, "cannot tell the layout of 2 outputs"),
        ([(1, 4420, 2), (1, 4000, 4)], None, None, None, "cannot tell the layout of 2"),
        ([], None, None, None, "cannot tell the layout of 0 outputs"),
    ],
)  # fmt: skip
def test_ambiguous_or_unknown_outputs_are_refused_loudly(
    shapes: list[tuple[int, ...]],
    metadata: dict[str, str] | None,
    classes: int | None,
    input_hw: tuple[int, int] | None,
    message: str,
) -> None:
    with pytest.raises(LayoutError, match=message) as refused:
        detect_layout(shapes, metadata, num_classes=classes, input_hw=input_hw)
    text = str(refused.value)
    assert "set [output] layout in model.toml" in text or "single output" in text
    if shapes:
        assert str(list(shapes[0])) in text  # the message names the shapes


def test_invalid_strides_or_input_size_are_refused() -> None:
    with pytest.raises(LayoutError, match="strides must be positive"):
        detect_layout([(1, 3549, 85)], input_hw=(416, 416), strides=(0, 16))
    with pytest.raises(LayoutError, match="input_hw must be positive"):
        detect_layout([(1, 3549, 85)], input_hw=(0, 416))


@pytest.mark.parametrize(
    "metadata",
    [
        {**ULTRALYTICS, "names": "{0: 'a', 2: 'c'}"},  # a class index missing
        {**ULTRALYTICS, "kpt_shape": "[17, 2]"},  # keypoints without visibility
        {**ULTRALYTICS, "end2end": "yes"},
    ],
)
def test_malformed_metadata_is_refused_not_ignored(metadata: dict[str, str]) -> None:
    with pytest.raises(MetadataError, match="ONNX metadata"):
        detect_layout([(1, 84, 8400)], metadata)


# Ultralytics 8.4.190 segment and OBB exports (shared/oracle/exports/models.json): head Segment
# with 32 mask coefficients and 160x160 prototypes at 640, head OBB with the angle last.
ULTRALYTICS_SEG = {**ULTRALYTICS, "task": "segment", "head": "Segment"}
ULTRALYTICS_OBB = {**ULTRALYTICS, "task": "obb", "head": "OBB"}
SEG_SHAPES = [(1, 4 + 80 + 32, 8400), (1, 32, 160, 160)]


@pytest.mark.parametrize(
    ("shapes", "metadata", "input_hw", "expected"),
    [
        (SEG_SHAPES, ULTRALYTICS_SEG, (640, 640), "yolov8-seg"),
        (SEG_SHAPES[::-1], ULTRALYTICS_SEG, None, "yolov8-seg"),  # outputs in either order
        (SEG_SHAPES, None, (640, 640), "yolov8-seg"),  # no metadata: the two shapes say it
        ([(1, 4 + 80 + 32, "anchors"), (1, 32, "h", "w")], None, (480, 640), "yolov8-seg"),
        ([(1, 4 + 80 + 1, 8400)], ULTRALYTICS_OBB, (640, 640), "yolov8-obb"),
        ([(1, 4 + 15 + 1, 21504)], {**ULTRALYTICS_OBB, "names": names(15)}, None, "yolov8-obb"),
        ([(1, 84, 8400)], ULTRALYTICS, (640, 640), "yolov8"),  # detect stays detect
    ],
)
def test_segment_and_obb_exports(
    shapes: list[tuple[int | str, ...]],
    metadata: dict[str, str] | None,
    input_hw: tuple[int, int] | None,
    expected: str,
) -> None:
    assert detect_layout(shapes, metadata, input_hw=input_hw) == expected


@pytest.mark.parametrize(
    ("shapes", "metadata", "classes", "input_hw", "reason"),
    [
        ([(1, 116, 8400)], ULTRALYTICS_SEG, None, None, "prototypes"),
        (SEG_SHAPES, ULTRALYTICS_SEG, 3, None, "116 channels do not hold 4 box values, 3 classes"),
        ([(1, 25200, 117), (1, 32, 160, 160)], None, None, None, "rows \\(YOLOv5-seg\\)"),
        ([(1, 36, 8400), (1, 32, 160, 160)], None, None, None, "nc >= 1 classes"),
        ([(1, 116, 8400), (1, "nm", 160, 160)], None, None, None, "static channel counts"),
        ([(2, 116, 8400), (1, 32, 160, 160)], None, None, None, "one batch size"),
        (SEG_SHAPES, None, None, (320, 320), "160x160 are not a quarter of the 320x320 input"),
        (SEG_SHAPES, {**ULTRALYTICS_SEG, "end2end": "True"}, None, None, "end-to-end"),
        ([(1, 85, 8400), (1, 32, 160, 160)], ULTRALYTICS_OBB, None, None, "one output"),
        ([(1, 84, 8400)], ULTRALYTICS_OBB, None, None, "84 channels do not hold"),
        ([(1, 8400, 85)], ULTRALYTICS_OBB, None, None, "fewer than the anchors"),
        ([(1, 5, 8400)], {"task": "obb"}, None, None, "nc >= 1 classes and an angle"),
    ],
)
def test_segment_and_obb_shapes_that_contradict_are_refused_saying_why(
    shapes: list[tuple[int | str, ...]],
    metadata: dict[str, str] | None,
    classes: int | None,
    input_hw: tuple[int, int] | None,
    reason: str,
) -> None:
    with pytest.raises(LayoutError, match=reason):
        detect_layout(shapes, metadata, classes, input_hw=input_hw)
