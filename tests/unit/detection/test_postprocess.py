"""postprocess() end to end on hand-made outputs: decode, select, cap, map back."""

import numpy as np
import pytest

from detection import DetectionError, LayoutError, LayoutParams, letterbox, postprocess

PARAMS = LayoutParams(input_hw=(640, 640), num_classes=2)


def yolov8_output(rows: list[tuple[float, float, float, float, float, float]]) -> np.ndarray:
    """[1, 4 + 2, N] from (cx, cy, w, h, score0, score1) rows."""
    return np.array(rows, dtype=np.float32).T[None]


def test_boxes_come_back_in_image_pixels_through_the_letterbox_record() -> None:
    transform = letterbox((720, 1280), (640, 640))  # gain 0.5, pad top 140
    output = yolov8_output([(320, 320, 100, 50, 0.9, 0.1)])
    (result,) = postprocess(output, transform, layout="yolov8", params=PARAMS)
    np.testing.assert_allclose(result.xyxy, [[540, 310, 740, 410]])
    assert result.class_id.tolist() == [0]
    np.testing.assert_allclose(result.confidence, [0.9])
    assert result.keypoints is None
    assert len(result) == 1


def test_overlapping_same_class_boxes_are_suppressed_and_cap_applies() -> None:
    transform = letterbox((640, 640), (640, 640))
    output = yolov8_output(
        [
            (100, 100, 50, 50, 0.9, 0.0),
            (102, 100, 50, 50, 0.8, 0.0),  # IoU ~0.92 with the first: suppressed
            (102, 100, 50, 50, 0.0, 0.7),  # other class: kept
            (400, 400, 50, 50, 0.6, 0.0),
        ]
    )
    (result,) = postprocess(output, transform, layout="yolov8", params=PARAMS, iou=0.5)
    np.testing.assert_allclose(result.confidence, [0.9, 0.7, 0.6])
    (capped,) = postprocess(
        output, transform, layout="yolov8", params=PARAMS, iou=0.5, max_detections=2
    )
    assert capped.class_id.tolist() == [0, 1]
    (only_one,) = postprocess(output, transform, layout="yolov8", params=PARAMS, classes=[1])
    assert only_one.class_id.tolist() == [1]


def test_a_batch_gives_one_result_per_image_with_its_own_transform() -> None:
    output = np.concatenate(
        [
            yolov8_output([(320, 320, 20, 20, 0.9, 0.0)]),
            yolov8_output([(320, 320, 20, 20, 0.1, 0.0)]),
        ]
    )
    transforms = [letterbox((640, 640), (640, 640)), letterbox((320, 320), (640, 640))]
    first, second = postprocess(output, transforms, layout="yolov8", params=PARAMS)
    np.testing.assert_allclose(first.xyxy, [[310, 310, 330, 330]])
    assert second.xyxy.shape == (0, 4)
    assert second.xyxy.dtype == np.float32
    assert second.class_id.dtype == np.int64
    with pytest.raises(DetectionError, match="2 images"):
        postprocess(output, transforms[:1], layout="yolov8", params=PARAMS)


def test_end2end_rows_are_filtered_but_never_re_suppressed_or_re_sorted() -> None:
    rows = np.array(
        [[0, 0, 10, 10, 0.9, 3], [0, 0, 10, 10, 0.8, 3], [5, 5, 9, 9, 0.2, 1], [0, 0, 0, 0, 0, 0]],
        dtype=np.float32,
    )
    (result,) = postprocess(
        rows[None], letterbox((640, 640), (640, 640)), layout="end2end", params=PARAMS,
        confidence=0.1,
    )  # fmt: skip
    np.testing.assert_allclose(result.confidence, [0.9, 0.8, 0.2])
    assert result.class_id.tolist() == [3, 3, 1]
    (filtered,) = postprocess(
        rows[None], letterbox((640, 640), (640, 640)), layout="end2end", params=PARAMS,
        confidence=0.1, classes=[1], max_detections=5,
    )  # fmt: skip
    assert filtered.class_id.tolist() == [1]


def test_unknown_layout_and_bad_caps_are_refused() -> None:
    transform = letterbox((640, 640), (640, 640))
    with pytest.raises(LayoutError, match="unknown layout 'yolov99'"):
        postprocess(np.zeros((1, 6, 1)), transform, layout="yolov99", params=PARAMS)
    with pytest.raises(DetectionError, match="max_detections"):
        postprocess(np.zeros((1, 6, 1)), transform, layout="yolov8", params=PARAMS,
                    max_detections=-1)  # fmt: skip


def test_truncation_is_reported() -> None:
    output = yolov8_output([(i * 30.0 + 15, 15, 10, 10, 0.5, 0.0) for i in range(5)])
    (result,) = postprocess(
        output, letterbox((640, 640), (640, 640)), layout="yolov8", params=PARAMS,
        max_candidates=3,
    )  # fmt: skip
    assert result.truncated is True
    assert len(result) == 3
