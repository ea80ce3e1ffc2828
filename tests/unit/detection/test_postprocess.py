"""postprocess() end to end on hand-made outputs: decode, select, cap, map back."""

import math
from collections.abc import Sequence

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


def seg_outputs(
    rows: list[tuple[float, float, float, float, float, float, float]],
) -> list[np.ndarray]:
    """[1, 4 + 2 + 1, N] from (cx, cy, w, h, score0, score1, coefficient) rows, and one
    prototype map [1, 1, 160, 160] that is +1 on the left half of the input, -1 on the right."""
    prototypes = np.where(np.arange(160) < 80, 1.0, -1.0).astype(np.float32)
    return [np.array(rows, dtype=np.float32).T[None], np.tile(prototypes, (1, 1, 160, 1))]


def test_segmentation_masks_are_in_input_pixels_and_empty_ones_drop_their_detection() -> None:
    transform = letterbox((320, 640), (640, 640))  # gain 1, 160 px pad at the top
    outputs = seg_outputs(
        [
            (200, 320, 100, 40, 0.9, 0.1, 1.0),  # left half, coefficient +1: x 150..250 set
            (500, 320, 100, 40, 0.8, 0.0, 1.0),  # right half, +1 * -1 < 0: empty, dropped
            (300, 200, 200, 40, 0.1, 0.7, -1.0),  # straddles x = 320: its right part is set
        ]
    )
    (result,) = postprocess(outputs, transform, layout="yolov8-seg", params=PARAMS)
    assert result.class_id.tolist() == [0, 1]
    np.testing.assert_allclose(result.confidence, [0.9, 0.7])
    np.testing.assert_allclose(result.xyxy, [[150, 140, 250, 180], [200, 20, 400, 60]])
    assert result.masks is not None and result.masks.shape == (2, 640, 640)
    assert result.masks.dtype == np.bool_ and result.rotated is None
    first, third = result.masks
    # Columns 150..249 of rows 300..339; the logit flips sign between columns 319 and 320.
    assert first.sum() == 100 * 40 and first[300:340, 150:250].all()
    assert third.sum() == 80 * 40 and third[180:220, 320:400].all()


def test_masks_are_made_after_the_cap_so_an_empty_one_can_leave_fewer() -> None:
    outputs = seg_outputs([(500, 320, 100, 40, 0.9, 0.0, 1.0), (200, 320, 100, 40, 0.8, 0.0, 1.0)])
    (result,) = postprocess(
        outputs, letterbox((640, 640), (640, 640)), layout="yolov8-seg", params=PARAMS,
        max_detections=1,
    )  # fmt: skip
    assert len(result) == 0 and result.masks is not None and result.masks.shape == (0, 640, 640)


def obb_output(rows: Sequence[tuple[float, ...]]) -> np.ndarray:
    """[1, 4 + 2 + 1, N] from (cx, cy, w, h, score0, score1, angle) rows."""
    return np.array(rows, dtype=np.float32).T[None]


def test_oriented_boxes_come_back_in_image_pixels_unclipped_with_their_hulls() -> None:
    transform = letterbox((720, 1280), (640, 640))  # gain 0.5, pad top 140
    output = obb_output(
        [
            (5, 150, 40, 10, 0.9, 0.0, math.pi / 2),  # sticks out of the image on the left
            (6, 150, 40, 10, 0.8, 0.0, math.pi / 2),  # nearly the same box: suppressed
            (6, 150, 40, 10, 0.0, 0.7, math.pi / 2),  # the same box, other class: kept
            (400, 400, 20, 20, 0.1, 0.2, 0.3),  # below the threshold
        ]
    )
    (result,) = postprocess(output, transform, layout="yolov8-obb", params=PARAMS, iou=0.7)
    assert result.class_id.tolist() == [0, 1]
    assert result.rotated is not None and result.masks is None
    np.testing.assert_allclose(
        result.rotated,
        [[10, 20, 80, 20, math.pi / 2], [12, 20, 80, 20, math.pi / 2]],
        rtol=1e-6, atol=1e-5,
    )  # fmt: skip
    # Turned a quarter, the 80 x 20 box spans 20 in x and 80 in y: x from 0 (10 - 10) ...
    np.testing.assert_allclose(result.xyxy[0], [0, -20, 20, 60], atol=1e-4)


def test_oriented_candidates_follow_the_same_filters_as_axis_aligned_ones() -> None:
    rows = [(i * 50.0 + 25, 25, 20, 10, 0.5 + i / 100, 0.0, 0.1) for i in range(5)]
    rows.append((25, 300, 20, 10, 0.0, 0.9, 0.1))
    transform = letterbox((640, 640), (640, 640))
    (capped,) = postprocess(
        obb_output(rows), transform, layout="yolov8-obb", params=PARAMS, max_candidates=3
    )
    assert capped.truncated is True
    np.testing.assert_allclose(capped.confidence, [0.9, 0.54, 0.53])
    (ones,) = postprocess(obb_output(rows), transform, layout="yolov8-obb", params=PARAMS,
                          classes=[1])  # fmt: skip
    assert ones.class_id.tolist() == [1] and ones.truncated is False


def test_plain_layouts_have_neither_masks_nor_rotated_boxes() -> None:
    output = yolov8_output([(320, 320, 100, 50, 0.9, 0.1)])
    (result,) = postprocess(output, letterbox((640, 640), (640, 640)), layout="yolov8",
                            params=PARAMS)  # fmt: skip
    assert result.masks is None and result.rotated is None
