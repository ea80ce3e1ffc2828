"""Face-detector decoders on hand-made tensors whose decoded values are worked out by hand.

Inputs are non-square (H=32, W=64 unless said otherwise) so that a row/column swap shows.
Grid sizes there: stride 8 -> 4x8 cells, 16 -> 2x4, 32 -> 1x2.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from detection import Candidates, LayoutError, LayoutParams
from detection.decoders.face_priors import anchor_points, retinaface_priors
from detection.decoders.faces import (
    RETINAFACE_SIZES,
    decode_centerface,
    decode_retinaface,
    decode_scrfd,
    decode_ultraface,
    decode_yunet,
)

HW = (32, 64)
PARAMS = LayoutParams(input_hw=HW)
CELLS = {8: 32, 16: 8, 32: 2}  # ceil(32/s) * ceil(64/s)


def assert_face_candidates(c: Candidates, n: int, keypoints: bool = True) -> None:
    assert c.boxes.shape == (n, 4) and c.boxes.dtype == np.float32
    assert c.class_scores is not None
    assert c.class_scores.shape == (n, 1) and c.class_scores.dtype == np.float32
    if keypoints:
        assert c.keypoints is not None
        assert c.keypoints.shape == (n, 5, 2) and c.keypoints.dtype == np.float32
    else:
        assert c.keypoints is None


# --- YuNet -----------------------------------------------------------------------------------


def yunet_outputs(batch: int = 1, hw_cells: dict[int, int] = CELLS) -> list[np.ndarray]:
    """Zero tensors in the export's order: cls_8,16,32, obj_8.., bbox_8.., kps_8.."""
    return [
        np.zeros((batch, hw_cells[s], dim), np.float32)
        for dim in (1, 1, 4, 10)
        for s in (8, 16, 32)
    ]


def test_yunet_cell_decodes_to_hand_computed_box_score_and_landmark() -> None:
    outputs = yunet_outputs()
    # stride 16, row 1, col 2 -> index 1*4 + 2 = 6 within stride 16, 32 + 6 overall.
    cls_16, obj_16, bbox_16, kps_16 = outputs[1], outputs[4], outputs[7], outputs[10]
    cls_16[0, 6] = 0.81
    obj_16[0, 6] = 1.0
    bbox_16[0, 6] = (0.5, 0.25, math.log(2), 0.0)
    kps_16[0, 6, :2] = (0.25, 0.5)
    (c,) = decode_yunet(outputs, PARAMS)
    assert_face_candidates(c, 32 + 8 + 2)
    # centre ((2 + .5) * 16, (1 + .25) * 16) = (40, 20); w = 2 * 16, h = 16.
    np.testing.assert_allclose(c.boxes[38], [24, 12, 56, 28], atol=1e-5)
    assert c.class_scores is not None and c.keypoints is not None
    np.testing.assert_allclose(c.class_scores[38], [0.9], atol=1e-6)
    np.testing.assert_allclose(c.keypoints[38, 0], [36, 24], atol=1e-5)  # ((2+.25)*16, 1.5*16)
    np.testing.assert_allclose(c.keypoints[38, 1], [32, 16], atol=1e-5)  # zero offset: cell corner
    assert np.count_nonzero(c.class_scores) == 1


def test_yunet_scores_are_clipped_before_the_geometric_mean() -> None:
    outputs = yunet_outputs()
    outputs[0][0, 0] = 1.5  # cls above 1 counts as 1
    outputs[3][0, 0] = 0.64
    outputs[0][0, 1] = 0.9
    outputs[3][0, 1] = -0.2  # obj below 0 counts as 0
    (c,) = decode_yunet(outputs, PARAMS)
    assert c.class_scores is not None
    np.testing.assert_allclose(c.class_scores[:2, 0], [0.8, 0.0], atol=1e-6)


def test_yunet_output_order_does_not_matter() -> None:
    rng = np.random.default_rng(0)
    outputs = [rng.uniform(0, 1, o.shape).astype(np.float32) for o in yunet_outputs(batch=2)]
    shuffled = [outputs[i] for i in rng.permutation(len(outputs))]
    expected, got = decode_yunet(outputs, PARAMS), decode_yunet(shuffled, PARAMS)
    assert len(got) == 2
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_array_equal(e.boxes, g.boxes)
        np.testing.assert_array_equal(e.class_scores, g.class_scores)
        np.testing.assert_array_equal(e.keypoints, g.keypoints)


def test_yunet_empty_batch_gives_no_images() -> None:
    assert decode_yunet(yunet_outputs(batch=0), PARAMS) == []


def test_yunet_refuses_wrong_count_and_wrong_input_size() -> None:
    with pytest.raises(LayoutError, match=r"expected 12 outputs .*got 11"):
        decode_yunet(yunet_outputs()[:11], PARAMS)
    with pytest.raises(LayoutError, match=r"input 64x64 .* needs \[64, 16, 4\] rows"):
        decode_yunet(yunet_outputs(), LayoutParams(input_hw=(64, 64)))
    with pytest.raises(LayoutError, match="too small to tell strides"):
        decode_yunet(yunet_outputs(), LayoutParams(input_hw=(8, 8)))


def test_yunet_refuses_a_stride_missing_a_role() -> None:
    outputs = yunet_outputs()
    outputs[10] = np.zeros((1, CELLS[16], 8), np.float32)  # kps_16 with 8 instead of 10
    with pytest.raises(LayoutError, match=r"last dimensions|stride 16"):
        decode_yunet(outputs, PARAMS)


def test_yunet_refuses_two_anchors_per_cell() -> None:
    doubled = {s: 2 * n for s, n in CELLS.items()}
    with pytest.raises(LayoutError, match=r"1 anchor\(s\) per cell needs \[32, 8, 2\] rows"):
        decode_yunet(yunet_outputs(hw_cells=doubled), PARAMS)


# --- SCRFD -----------------------------------------------------------------------------------


def scrfd_outputs(kps: bool = True) -> list[np.ndarray]:
    """Zero tensors without batch axis, export order: scores s8,16,32, bboxes.., kps.."""
    dims = (1, 4, 10) if kps else (1, 4)
    return [np.zeros((2 * CELLS[s], dim), np.float32) for dim in dims for s in (8, 16, 32)]


def test_scrfd_anchor_decodes_to_hand_computed_box_and_landmark() -> None:
    outputs = scrfd_outputs()
    # stride 32, row 0, col 1, anchor 1 -> (1 * 2 + 1) = 3 within stride 32; 64 + 16 + 3 overall.
    outputs[2][3] = 0.7
    outputs[5][3] = (0.25, 0.5, 0.5, 0.25)
    outputs[8][3, :2] = (0.5, 0.25)
    (c,) = decode_scrfd(outputs, PARAMS)
    assert_face_candidates(c, 2 * (32 + 8 + 2))
    assert c.class_scores is not None and c.keypoints is not None
    # centre (32, 0); distances (8, 16, 16, 8).
    np.testing.assert_allclose(c.boxes[83], [24, -16, 48, 8])
    np.testing.assert_allclose(c.class_scores[83], [0.7])
    np.testing.assert_allclose(c.keypoints[83, 0], [48, 8])
    np.testing.assert_allclose(c.boxes[82], [32, 0, 32, 0])  # anchor 0 of the same cell


def test_scrfd_accepts_a_batch_axis_and_any_order() -> None:
    rng = np.random.default_rng(1)
    flat = [rng.uniform(0, 1, o.shape).astype(np.float32) for o in scrfd_outputs()]
    batched = [np.stack((o, o * 0.5)) for o in flat]
    shuffled = [batched[i] for i in rng.permutation(len(batched))]
    first, second = decode_scrfd(shuffled, PARAMS)
    (alone,) = decode_scrfd(flat, PARAMS)
    np.testing.assert_array_equal(first.boxes, alone.boxes)
    np.testing.assert_array_equal(first.keypoints, alone.keypoints)
    assert second.class_scores is not None and alone.class_scores is not None
    np.testing.assert_allclose(second.class_scores, alone.class_scores * 0.5)


def test_scrfd_without_keypoints_has_no_keypoints() -> None:
    outputs = scrfd_outputs(kps=False)
    outputs[3][0] = (1, 1, 1, 1)
    (c,) = decode_scrfd(outputs, PARAMS)
    assert_face_candidates(c, 84, keypoints=False)
    np.testing.assert_allclose(c.boxes[0], [-8, -8, 8, 8])


def test_scrfd_refuses_mismatched_rows_and_counts() -> None:
    with pytest.raises(LayoutError, match=r"input 64x64 with 2 anchor\(s\) .* \[128, 32, 8\]"):
        decode_scrfd(scrfd_outputs(), LayoutParams(input_hw=(64, 64)))
    with pytest.raises(LayoutError, match=r"expected 9 outputs .*got 8"):
        decode_scrfd(scrfd_outputs()[:8], PARAMS)
    with pytest.raises(LayoutError, match=r"expected \(N, D\) or \(batch, N, D\)"):
        decode_scrfd([o[None, None] for o in scrfd_outputs()], PARAMS)


# --- RetinaFace -------------------------------------------------------------------------------


def retinaface_outputs(rows: int = 2 * (32 + 8 + 2)) -> list[np.ndarray]:
    """loc, conf (background 1, face 0), landms: all priors decode to themselves."""
    conf = np.zeros((1, rows, 2), np.float32)
    conf[..., 0] = 1
    return [np.zeros((1, rows, 4), np.float32), conf, np.zeros((1, rows, 10), np.float32)]


def test_retinaface_zero_regression_returns_the_prior_box() -> None:
    loc, conf, landms = retinaface_outputs()
    (c,) = decode_retinaface([loc, conf, landms], PARAMS)
    assert_face_candidates(c, 84)
    # stride 16, row 1, col 2, second size (128) -> 64 + (1*4 + 2) * 2 + 1 = 77; centre (40, 24).
    np.testing.assert_allclose(c.boxes[77], [40 - 64, 24 - 64, 40 + 64, 24 + 64])
    # first prior of all: stride 8, cell (0, 0), size 16 -> centre (4, 4).
    np.testing.assert_allclose(c.boxes[0], [-4, -4, 12, 12])
    assert c.keypoints is not None
    np.testing.assert_allclose(c.keypoints[77], np.tile([40, 24], (5, 1)))


def test_retinaface_regression_uses_variances_and_softmax_column_one() -> None:
    loc, conf, landms = retinaface_outputs()
    loc[0, 77] = (0.5, -0.25, 5 * math.log(2), 0.0)
    landms[0, 77, :2] = (1.0, 0.0)
    conf[0, 77] = (0.1, 0.9)
    # outputs in another order than the export's
    (c,) = decode_retinaface([landms, loc, conf], PARAMS)
    # centre (40 + .5*.1*128, 24 - .25*.1*128) = (46.4, 20.8); w = 128 * 2, h = 128.
    np.testing.assert_allclose(c.boxes[77], [-81.6, -43.2, 174.4, 84.8], rtol=1e-5)
    assert c.class_scores is not None and c.keypoints is not None
    np.testing.assert_allclose(c.class_scores[77], [0.9])
    np.testing.assert_allclose(c.keypoints[77, 0], [52.8, 24.0], rtol=1e-5)


def test_retinaface_logits_get_the_softmax_they_lack() -> None:
    loc, _, landms = retinaface_outputs()
    logits = np.zeros((1, 84, 2), np.float32)
    logits[..., 1] = math.log(3)  # softmax of (0, ln 3) = (1/4, 3/4)
    (c,) = decode_retinaface([loc, logits, landms], PARAMS)
    assert c.class_scores is not None
    np.testing.assert_allclose(c.class_scores, 0.75, rtol=1e-6)


def test_retinaface_prior_sizes_come_from_params_anchors() -> None:
    anchors = (((10.0, 20.0),), ((30.0, 30.0),), ((50.0, 60.0),))
    loc, conf, landms = retinaface_outputs(rows=32 + 8 + 2)
    (c,) = decode_retinaface([loc, conf, landms], LayoutParams(input_hw=HW, anchors=anchors))
    np.testing.assert_allclose(c.boxes[0], [4 - 5, 4 - 10, 4 + 5, 4 + 10])  # cell (0, 0), s 8
    np.testing.assert_allclose(c.boxes[-1], [48 - 25, 16 - 30, 48 + 25, 16 + 30])  # s 32, col 1


def test_retinaface_refuses_wrong_rows_and_missing_tensor() -> None:
    with pytest.raises(LayoutError, match=r"84 rows but input 64x64 .* 168 priors"):
        decode_retinaface(retinaface_outputs(), LayoutParams(input_hw=(64, 64)))
    with pytest.raises(LayoutError, match=r"last dimensions \(4, 2, 10\)"):
        decode_retinaface(retinaface_outputs()[:2], PARAMS)
    with pytest.raises(LayoutError, match="prior sizes"):
        decode_retinaface(retinaface_outputs(), LayoutParams(input_hw=HW, anchors=(((8, 8),),)))


def test_retinaface_priors_are_cached_and_read_only() -> None:
    priors = retinaface_priors((640, 640), (8, 16, 32), RETINAFACE_SIZES)
    assert priors.shape == (16800, 4)  # the real 640x640 model's row count (MANIFEST)
    assert priors is retinaface_priors((640, 640), (8, 16, 32), RETINAFACE_SIZES)
    assert not priors.flags.writeable


# --- UltraFace --------------------------------------------------------------------------------


def test_ultraface_scales_normalised_boxes_to_the_input() -> None:
    scores = np.array([[[0.3, 0.7]]], np.float32)
    boxes = np.array([[[0.25, 0.5, 0.75, 1.0]]], np.float32)
    (c,) = decode_ultraface([boxes, scores], LayoutParams(input_hw=(240, 320)))
    assert_face_candidates(c, 1, keypoints=False)
    np.testing.assert_allclose(c.boxes, [[80, 120, 240, 240]])
    assert c.class_scores is not None
    np.testing.assert_allclose(c.class_scores, [[0.7]])


def test_ultraface_empty_and_malformed() -> None:
    empty = [np.zeros((1, 0, 2), np.float32), np.zeros((1, 0, 4), np.float32)]
    (c,) = decode_ultraface(empty, LayoutParams(input_hw=(240, 320)))
    assert_face_candidates(c, 0, keypoints=False)
    with pytest.raises(LayoutError, match="number of rows"):
        decode_ultraface([np.zeros((1, 3, 2), np.float32), np.zeros((1, 4, 4), np.float32)], PARAMS)
    with pytest.raises(LayoutError, match="batch size"):
        decode_ultraface([np.zeros((2, 3, 2), np.float32), np.zeros((1, 3, 4), np.float32)], PARAMS)
    with pytest.raises(LayoutError, match="input_hw must be positive"):
        decode_ultraface(empty, LayoutParams(input_hw=(0, 320)))


# --- CenterFace -------------------------------------------------------------------------------


def centerface_outputs(hw: tuple[int, int] = (2, 3)) -> list[np.ndarray]:
    """heat, scale, offset, landmarks (export order), stride-4 maps of an 8x12 input."""
    return [np.zeros((1, ch, *hw), np.float32) for ch in (1, 2, 2, 10)]


def test_centerface_cell_decodes_to_hand_computed_box_and_landmark() -> None:
    heat, scale, offset, marks = centerface_outputs()
    # row 1, col 2 -> flat index 5.
    heat[0, 0, 1, 2] = 0.9
    scale[0, :, 1, 2] = (math.log(2), math.log(3))  # h = 8, w = 12
    offset[0, :, 1, 2] = (0.25, 0.5)  # (dy, dx)
    marks[0, :2, 1, 2] = (0.5, 0.25)  # landmark 0 as (y, x) fractions of the box
    # landmarks before heat: channel counts tell them apart
    (c,) = decode_centerface([marks, heat, scale, offset], LayoutParams(input_hw=(8, 12)))
    assert_face_candidates(c, 6)
    # x1 = (2 + .5 + .5) * 4 - 6 = 6, y1 = (1 + .25 + .5) * 4 - 4 = 3.
    np.testing.assert_allclose(c.boxes[5], [6, 3, 18, 11], atol=1e-5)
    assert c.class_scores is not None and c.keypoints is not None
    np.testing.assert_allclose(c.class_scores[:, 0], [0, 0, 0, 0, 0, 0.9])
    np.testing.assert_allclose(c.keypoints[5, 0], [6 + 0.25 * 12, 3 + 0.5 * 8], atol=1e-5)
    np.testing.assert_allclose(c.keypoints[5, 1], [6, 3], atol=1e-5)
    # zero maps: a 4x4 box centred half a cell in: cell (0, 0) -> (0, 0, 4, 4)
    np.testing.assert_allclose(c.boxes[0], [0, 0, 4, 4])


def test_centerface_refuses_wrong_channels_and_map_size() -> None:
    outputs = centerface_outputs()
    with pytest.raises(LayoutError, match=r"1 \(heat\), 2 \(scale\), 2 \(offset\)"):
        decode_centerface(outputs[:3], LayoutParams(input_hw=(8, 12)))
    with pytest.raises(LayoutError, match=r"needs maps of 4x3"):
        decode_centerface(outputs, LayoutParams(input_hw=(16, 12)))


# --- shared grids -----------------------------------------------------------------------------


def test_anchor_points_are_row_major_repeated_and_read_only() -> None:
    points = anchor_points((32, 64), 16, 2)
    expected_first = [[0, 0], [0, 0], [16, 0], [16, 0], [32, 0], [32, 0], [48, 0], [48, 0]]
    np.testing.assert_array_equal(points[:8], expected_first)
    np.testing.assert_array_equal(points[8], [0, 16])
    assert points.shape == (16, 2) and points.dtype == np.float32
    assert not points.flags.writeable
    assert points is anchor_points((32, 64), 16, 2)


@pytest.mark.parametrize("strides", [(), (8, 8, 16), (0, 16), (-8, 16)])
def test_face_decoders_refuse_strides_that_are_not_distinct_and_positive(
    strides: tuple[int, ...],
) -> None:
    params = LayoutParams(input_hw=HW, strides=strides)
    with pytest.raises(LayoutError, match="strides must be distinct positive ints"):
        decode_retinaface([np.zeros((1, 1, 4)), np.zeros((1, 1, 2)), np.zeros((1, 1, 10))], params)
