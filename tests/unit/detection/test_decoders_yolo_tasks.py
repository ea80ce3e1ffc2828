"""yolov8-seg and yolov8-obb decoders on tiny hand-made outputs, values worked out by hand."""

import math

import numpy as np
import pytest

from detection import LayoutError, LayoutParams
from detection.decoders import DECODERS
from detection.decoders.yolo_tasks import (
    decode_yolov8_obb,
    decode_yolov8_seg,
    split_segment_outputs,
)

PARAMS = LayoutParams(input_hw=(64, 64), num_classes=2)


def seg_outputs() -> tuple[np.ndarray, np.ndarray]:
    """Two anchors, 2 classes, 3 mask coefficients; prototypes (1, 3, 16, 16)."""
    rows = np.array(
        [
            [32, 16, 8, 4, 0.9, 0.1, 1.0, 2.0, 3.0],  # cx cy w h | scores | coefficients
            [10, 10, 2, 6, 0.2, 0.7, -1.0, 0.0, 0.5],
        ],
        dtype=np.float32,
    )
    prototypes = np.arange(3 * 16 * 16, dtype=np.float32).reshape(1, 3, 16, 16)
    return rows.T[None], prototypes


def test_segmentation_rows_carry_boxes_scores_coefficients_and_the_prototypes() -> None:
    predictions, prototypes = seg_outputs()
    for outputs in ([predictions, prototypes], [prototypes, predictions]):  # either order
        (found,) = decode_yolov8_seg(outputs, PARAMS)
        np.testing.assert_array_equal(found.boxes, [[28, 14, 36, 18], [9, 7, 11, 13]])
        assert found.class_scores is not None and found.mask_coefficients is not None
        np.testing.assert_array_equal(
            found.class_scores, np.array([[0.9, 0.1], [0.2, 0.7]], np.float32)
        )
        np.testing.assert_array_equal(found.mask_coefficients, [[1, 2, 3], [-1, 0, 0.5]])
        assert found.prototypes is not None
        np.testing.assert_array_equal(found.prototypes, prototypes[0])
        assert found.rotated is None and found.keypoints is None


def test_the_class_count_follows_from_the_prototypes_when_not_given() -> None:
    (found,) = decode_yolov8_seg(list(seg_outputs()), LayoutParams(input_hw=(64, 64)))
    assert found.class_scores is not None and found.class_scores.shape == (2, 2)


def test_segmentation_shapes_that_do_not_add_up_are_refused() -> None:
    predictions, prototypes = seg_outputs()
    with pytest.raises(LayoutError, match="2 outputs"):
        decode_yolov8_seg([predictions], PARAMS)
    with pytest.raises(LayoutError, match="rank-3"):
        split_segment_outputs([predictions, predictions])
    with pytest.raises(LayoutError, match="3 classes and the 3 mask coefficients"):
        decode_yolov8_seg([predictions, prototypes], LayoutParams((64, 64), num_classes=3))
    with pytest.raises(LayoutError, match="mask coefficients"):
        decode_yolov8_seg([predictions, np.concatenate([prototypes] * 2)], PARAMS)  # batch 2


def obb_output() -> np.ndarray:
    rows = np.array(
        [
            [20, 30, 10, 4, 0.6, 0.3, 0.0],  # cx cy w h | 2 scores | angle
            [40, 40, 10, 4, 0.1, 0.8, math.pi / 2],
        ],
        dtype=np.float32,
    )
    return rows.T[None]


def test_oriented_rows_carry_xywhr_and_their_axis_aligned_hulls() -> None:
    (found,) = decode_yolov8_obb([obb_output()], PARAMS)
    assert found.rotated is not None and found.class_scores is not None
    np.testing.assert_allclose(found.rotated, obb_output()[0][[0, 1, 2, 3, 6]].T)
    np.testing.assert_allclose(found.class_scores, [[0.6, 0.3], [0.1, 0.8]])
    # Upright: 10 wide, 4 high; turned a quarter: 4 wide, 10 high.
    np.testing.assert_allclose(found.boxes, [[15, 28, 25, 32], [38, 35, 42, 45]], atol=1e-5)
    (same,) = decode_yolov8_obb([obb_output()], LayoutParams(input_hw=(64, 64)))
    assert same.class_scores is not None and same.class_scores.shape == (2, 2)


def test_oriented_shapes_that_do_not_add_up_are_refused() -> None:
    with pytest.raises(LayoutError, match="3 classes and an angle"):
        decode_yolov8_obb([obb_output()], LayoutParams((64, 64), num_classes=3))
    with pytest.raises(LayoutError, match="expected 1 output"):
        decode_yolov8_obb([obb_output(), obb_output()], PARAMS)


def test_both_layouts_are_registered() -> None:
    assert DECODERS["yolov8-seg"] is decode_yolov8_seg
    assert DECODERS["yolov8-obb"] is decode_yolov8_obb
