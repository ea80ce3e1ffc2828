"""YOLO-family decoders on tiny hand-made outputs whose boxes can be checked by hand."""

import numpy as np
import pytest

from detection import LayoutError, LayoutParams
from detection.decoders import DECODERS
from detection.decoders.yolo import (
    decode_end2end,
    decode_yolov2,
    decode_yolov3,
    decode_yolov5,
    decode_yolov8,
    decode_yolox,
)


def params(**overrides: object) -> LayoutParams:
    fields: dict[str, object] = {"input_hw": (64, 64)}
    fields.update(overrides)
    return LayoutParams(**fields)  # type: ignore[arg-type]


def test_every_layout_of_the_design_has_a_decoder() -> None:
    expected = {"yolov8", "yolov5", "yolox", "yolov2", "yolov3", "end2end",
                "ultraface", "retinaface", "yunet", "scrfd"}  # fmt: skip
    assert expected <= set(DECODERS)


def test_yolov8_channels_first_cxcywh_to_xyxy() -> None:
    output = np.array([[[10, 50], [20, 50], [4, 10], [6, 10], [0.9, 0.2], [0.1, 0.7]]], np.float32)
    (candidates,) = decode_yolov8([output], params(num_classes=2))
    np.testing.assert_array_equal(candidates.boxes, [[8, 17, 12, 23], [45, 45, 55, 55]])
    np.testing.assert_array_equal(candidates.class_scores, np.float32([[0.9, 0.1], [0.2, 0.7]]))
    assert candidates.keypoints is None
    assert not candidates.nms_free


def test_yolov8_infers_classes_and_reads_pose_keypoints() -> None:
    # 4 box rows, 1 class, 2 keypoints x (x, y, visibility) = 11 channels, one anchor.
    column = [10, 10, 2, 2, 0.8, 1, 2, 0.5, 3, 4, 0.25]
    output = np.array(column, np.float32).reshape(1, 11, 1)
    (candidates,) = decode_yolov8([output], params(num_keypoints=2))
    assert candidates.class_scores is not None
    assert candidates.class_scores.shape == (1, 1)
    np.testing.assert_array_equal(candidates.keypoints, [[[1, 2], [3, 4]]])
    np.testing.assert_array_equal(candidates.keypoint_scores, [[0.5, 0.25]])


def test_yolov8_ignores_extra_channels_when_classes_are_given_and_refuses_too_few() -> None:
    output = np.zeros((1, 4 + 2 + 32, 5), np.float32)  # segmentation: 32 mask coefficients
    (candidates,) = decode_yolov8([output], params(num_classes=2))
    assert candidates.class_scores is not None
    assert candidates.class_scores.shape == (5, 2)
    with pytest.raises(LayoutError, match="cannot hold 4 box values, 80 classes"):
        decode_yolov8([np.zeros((1, 84, 5), np.float32)], params(num_classes=80, num_keypoints=1))
    with pytest.raises(LayoutError, match="expected 1 output"):
        decode_yolov8([output, output], params())
    with pytest.raises(LayoutError, match="rank-3"):
        decode_yolov8([np.zeros((84, 5), np.float32)], params())


def test_yolov8_batch_gives_one_candidates_per_image() -> None:
    output = np.zeros((3, 6, 4), np.float32)
    assert len(decode_yolov8([output], params(num_classes=2))) == 3


def test_yolov5_multiplies_objectness_and_accepts_float16() -> None:
    row = [32, 32, 10, 20, 0.5, 0.8, 0.2]
    output = np.array([[row]], dtype=np.float16)
    (candidates,) = decode_yolov5([output], params(num_classes=2))
    np.testing.assert_allclose(candidates.boxes, [[27, 22, 37, 42]])
    np.testing.assert_allclose(candidates.class_scores, [[0.4, 0.1]], rtol=1e-3)
    assert candidates.boxes.dtype == np.float32
    with pytest.raises(LayoutError, match="do not hold 5 \\+ 3"):
        decode_yolov5([output], params(num_classes=3))


def test_yolox_adds_the_cell_and_scales_by_the_stride() -> None:
    # 32x32 input: stride 8 -> 16 cells, stride 16 -> 4, stride 32 -> 1: 21 rows.
    output = np.zeros((1, 21, 7), np.float32)
    output[0, 16 + 1] = [0.5, 0.5, 0.0, np.log(2.0), 0.5, 0.2, 0.6]  # stride 16, row 0, col 1
    (candidates,) = decode_yolox([output], params(input_hw=(32, 32)))
    # cx = (0.5 + 1) * 16 = 24, cy = 0.5 * 16 = 8, w = 16, h = 32
    np.testing.assert_allclose(candidates.boxes[17], [16, -8, 32, 24], rtol=1e-6)
    np.testing.assert_allclose(candidates.class_scores[17], [0.1, 0.3], rtol=1e-6)  # type: ignore[index]
    # Row-major inside a stride: row 1, col 0 of stride 8 is index 4.
    output[0, 4, :4] = 0
    (again,) = decode_yolox([output], params(input_hw=(32, 32)))
    np.testing.assert_allclose(again.boxes[4], [-4, 4, 4, 12])


def test_yolox_refuses_a_grid_that_does_not_fit_the_input() -> None:
    with pytest.raises(LayoutError, match="give 21 grid cells"):
        decode_yolox([np.zeros((1, 20, 7), np.float32)], params(input_hw=(32, 32)))


YOLOV2_CELL = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]  # tx ty tw th to, 2 class logits


@pytest.mark.parametrize("channels_first", [False, True])
def test_yolov2_grid_with_anchors_sigmoid_exp_softmax(channels_first: bool) -> None:
    grid = np.full((1, 2, 2, 7), -10.0, np.float32)
    grid[0, 1, 0] = YOLOV2_CELL  # row 1, col 0
    output = grid.transpose(0, 3, 1, 2) if channels_first else grid
    p = params(input_hw=(64, 64), num_classes=2, anchors=(((10.0, 20.0),),))
    (candidates,) = decode_yolov2([output], p)
    # stride 32: cx = (0.5 + 0) * 32 = 16, cy = (0.5 + 1) * 32 = 48, w = 10, h = 20
    index = 1 * 2 + 0
    np.testing.assert_allclose(candidates.boxes[index], [11, 38, 21, 58], rtol=1e-6)
    np.testing.assert_allclose(candidates.class_scores[index], [0.25, 0.25], rtol=1e-6)  # type: ignore[index]


def test_yolov2_refuses_missing_anchors_and_ambiguous_axes() -> None:
    with pytest.raises(LayoutError, match="anchors are required"):
        decode_yolov2([np.zeros((1, 2, 2, 7), np.float32)], params(num_classes=2))
    square = params(num_classes=2, anchors=(((10.0, 20.0),),))
    with pytest.raises(LayoutError, match="NHWC or NCHW"):
        decode_yolov2([np.zeros((1, 7, 2, 7), np.float32)], square)


def test_yolov3_one_head_per_stride_in_both_shapes() -> None:
    coarse = np.full((1, 7, 2, 2), -10.0, np.float32)  # NCHW, 1 anchor, stride 32
    coarse[0, :, 0, 1] = YOLOV2_CELL
    fine = np.full((1, 1, 4, 4, 7), -10.0, np.float32)  # (B, A, H, W, 5 + nc), stride 16
    fine[0, 0, 3, 3] = YOLOV2_CELL
    p = params(input_hw=(64, 64), anchors=(((8.0, 8.0),), ((4.0, 6.0),)))
    (candidates,) = decode_yolov3([coarse, fine], p)
    assert candidates.boxes.shape == (4 + 16, 4)
    np.testing.assert_allclose(candidates.boxes[1], [44, 12, 52, 20], rtol=1e-6)  # cx 48, cy 16
    np.testing.assert_allclose(candidates.boxes[4 + 15], [54, 53, 58, 59], rtol=1e-6)  # cx 56
    np.testing.assert_allclose(candidates.class_scores[1], [0.25, 0.25], rtol=1e-6)  # type: ignore[index]


def test_yolov3_refuses_heads_without_matching_anchor_sets() -> None:
    head = np.zeros((1, 7, 2, 2), np.float32)
    with pytest.raises(LayoutError, match="2 heads but 1 anchor sets"):
        decode_yolov3([head, head], params(anchors=(((8.0, 8.0),),)))
    with pytest.raises(LayoutError, match="does not have 2 anchors"):
        decode_yolov3([np.zeros((1, 1, 2, 2, 7))], params(anchors=(((8.0, 8.0), (4.0, 4.0)),)))
    with pytest.raises(LayoutError, match="rank-4 or rank-5"):
        decode_yolov3([np.zeros((1, 7, 2))], params(anchors=(((8.0, 8.0),),)))


def test_end2end_rows_are_passed_through_in_order() -> None:
    rows = np.array([[[1, 2, 3, 4, 0.9, 7], [0, 0, 0, 0, 0, 0]]], np.float32)
    (candidates,) = decode_end2end([rows], params())
    assert candidates.nms_free
    np.testing.assert_array_equal(candidates.boxes, [[1, 2, 3, 4], [0, 0, 0, 0]])
    assert candidates.class_id is not None
    assert candidates.class_id.tolist() == [7, 0]
    with pytest.raises(LayoutError, match="x1 y1 x2 y2 score class"):
        decode_end2end([np.zeros((1, 5, 7), np.float32)], params())
