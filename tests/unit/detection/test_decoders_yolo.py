"""YOLO-family decoders on tiny hand-made outputs whose boxes are worked out by hand.

Each expected value is derived in a comment from the layout's formula (docs/ARCHITECTURE.md,
'Model repository format'; MANIFEST), not from the code under test. The last tests decode
ultralytics' own raw outputs from the oracle and compare with what ultralytics selected from
them.
"""

from pathlib import Path

import numpy as np
import pytest

from detection import Candidates, LayoutError, LayoutParams
from detection.decoders import DECODERS, Decoder, faces
from detection.decoders.yolo import (
    decode_end2end,
    decode_yolov2,
    decode_yolov3,
    decode_yolov5,
    decode_yolov8,
    decode_yolox,
    grid_cell_count,
)
from detection.nms import batched_nms, select

pytestmark = pytest.mark.filterwarnings("error")  # no overflow warnings from saturated logits


def params(**overrides: object) -> LayoutParams:
    fields: dict[str, object] = {"input_hw": (64, 64)}
    fields.update(overrides)
    return LayoutParams(**fields)  # type: ignore[arg-type]


def assert_empty(candidates: Candidates, classes: int) -> None:
    assert candidates.boxes.shape == (0, 4)
    assert candidates.boxes.dtype == np.float32
    assert candidates.class_scores is not None
    assert candidates.class_scores.shape == (0, classes)
    assert candidates.class_scores.dtype == np.float32


# --- registry -------------------------------------------------------------------------------


def test_registry_maps_every_layout_of_the_design_to_its_decoder() -> None:
    assert DECODERS["yolov8"] is decode_yolov8
    assert DECODERS["yolov5"] is decode_yolov5
    assert DECODERS["yolox"] is decode_yolox
    assert DECODERS["yolov2"] is decode_yolov2
    assert DECODERS["yolov3"] is decode_yolov3
    assert DECODERS["end2end"] is decode_end2end
    assert DECODERS["ultraface"] is faces.decode_ultraface
    assert DECODERS["retinaface"] is faces.decode_retinaface
    assert DECODERS["yunet"] is faces.decode_yunet
    assert DECODERS["scrfd"] is faces.decode_scrfd


# --- yolov8 ---------------------------------------------------------------------------------


def test_yolov8_channels_first_cxcywh_to_xyxy() -> None:
    # Two anchors (columns): (cx 10, cy 20, w 4, h 6) -> (8, 17, 12, 23); (50, 50, 10, 10).
    output = np.array([[[10, 50], [20, 50], [4, 10], [6, 10], [0.9, 0.2], [0.1, 0.7]]], np.float32)
    (candidates,) = decode_yolov8([output], params(num_classes=2))
    np.testing.assert_array_equal(candidates.boxes, [[8, 17, 12, 23], [45, 45, 55, 55]])
    assert candidates.boxes.dtype == np.float32
    np.testing.assert_array_equal(
        candidates.class_scores, np.array([[0.9, 0.1], [0.2, 0.7]], np.float32)
    )
    assert candidates.keypoints is None


def test_yolov8_infers_classes_and_reads_pose_keypoints() -> None:
    # 4 box rows, 1 class, 2 keypoints x (x, y, visibility) = 11 channels, one anchor.
    column = [10, 10, 2, 2, 0.8, 1, 2, 0.5, 3, 4, 0.25]
    output = np.array(column, np.float32).reshape(1, 11, 1)
    (candidates,) = decode_yolov8([output], params(num_keypoints=2))
    np.testing.assert_array_equal(candidates.class_scores, np.array([[0.8]], np.float32))
    np.testing.assert_array_equal(candidates.keypoints, [[[1, 2], [3, 4]]])
    np.testing.assert_array_equal(candidates.keypoint_scores, [[0.5, 0.25]])


def test_yolov8_ignores_extra_channels_when_classes_are_given() -> None:
    output = np.zeros((1, 4 + 2 + 32, 5), np.float32)  # segmentation: 32 mask coefficients
    output[0, 5, 3] = 0.6  # anchor 3, class 1
    (candidates,) = decode_yolov8([output], params(num_classes=2))
    assert candidates.class_scores is not None
    assert candidates.class_scores.shape == (5, 2)
    assert candidates.class_scores[3, 1] == np.float32(0.6)


@pytest.mark.parametrize(
    ("outputs", "p", "message"),
    [
        ([np.zeros((1, 84, 5))], params(num_classes=80, num_keypoints=1), "80 classes and 1 k"),
        ([np.zeros((1, 4, 5))], params(), "4 channels cannot hold"),  # no class left
        ([np.zeros((1, 6, 5))] * 2, params(), "expected 1 output, got 2"),
        ([np.zeros((84, 5))], params(), "rank-3 output, got shape \\(84, 5\\)"),
    ],
)
def test_yolov8_refuses_malformed_outputs(
    outputs: list[np.ndarray], p: LayoutParams, message: str
) -> None:
    with pytest.raises(LayoutError, match=message):
        decode_yolov8(outputs, p)


def test_yolov8_batch_gives_each_image_its_own_anchors() -> None:
    output = np.zeros((2, 5, 1), np.float32)
    output[0, :, 0] = [10, 10, 2, 2, 0.3]  # image 0: (9, 9, 11, 11)
    output[1, :, 0] = [20, 30, 4, 8, 0.7]  # image 1: (18, 26, 22, 34)
    first, second = decode_yolov8([output], params())
    np.testing.assert_array_equal(first.boxes, [[9, 9, 11, 11]])
    np.testing.assert_array_equal(second.boxes, [[18, 26, 22, 34]])
    np.testing.assert_array_equal(second.class_scores, np.array([[0.7]], np.float32))


def test_yolov8_empty_and_float16() -> None:
    (empty,) = decode_yolov8([np.zeros((1, 6, 0), np.float32)], params(num_classes=2))
    assert_empty(empty, 2)
    half = np.array([[[10], [10], [2], [2], [0.5]]], np.float16)
    (candidates,) = decode_yolov8([half], params())
    assert candidates.boxes.dtype == np.float32
    np.testing.assert_array_equal(candidates.boxes, [[9, 9, 11, 11]])


# --- yolov5 ---------------------------------------------------------------------------------


def test_yolov5_multiplies_objectness_and_accepts_float16() -> None:
    # (cx 32, cy 32, w 10, h 20) -> (27, 22, 37, 42); scores 0.5 x (0.8, 0.2) = (0.4, 0.1).
    row = [32, 32, 10, 20, 0.5, 0.8, 0.2]
    output = np.array([[row]], dtype=np.float16)
    (candidates,) = decode_yolov5([output], params(num_classes=2))
    np.testing.assert_array_equal(candidates.boxes, [[27, 22, 37, 42]])
    assert candidates.boxes.dtype == np.float32
    assert candidates.class_scores is not None
    assert candidates.class_scores.dtype == np.float32
    # float16 holds 0.8 and 0.2 to about 1e-4.
    np.testing.assert_allclose(candidates.class_scores, [[0.4, 0.1]], rtol=1e-3)


def test_yolov5_batch_and_empty() -> None:
    output = np.zeros((2, 1, 6), np.float32)
    output[1, 0] = [4, 4, 2, 2, 1.0, 0.9]  # only image 1 has a box: (3, 3, 5, 5)
    first, second = decode_yolov5([output], params())
    np.testing.assert_array_equal(first.boxes, [[0, 0, 0, 0]])
    np.testing.assert_array_equal(second.boxes, [[3, 3, 5, 5]])
    np.testing.assert_array_equal(second.class_scores, np.array([[0.9]], np.float32))
    (empty,) = decode_yolov5([np.zeros((1, 0, 85), np.float32)], params())
    assert_empty(empty, 80)


@pytest.mark.parametrize(
    ("columns", "classes", "message"),
    [(7, 3, "7 values do not hold 4 box values, objectness and 3 classes"), (5, None, "nc >= 1")],
)
def test_yolov5_refuses_rows_that_do_not_fit(
    columns: int, classes: int | None, message: str
) -> None:
    with pytest.raises(LayoutError, match=message):
        decode_yolov5([np.zeros((1, 4, columns), np.float32)], params(num_classes=classes))


# --- yolox ----------------------------------------------------------------------------------


def test_yolox_single_cell_at_stride_16() -> None:
    # 64x64 input: stride 8 -> 8x8 = 64 cells, 16 -> 4x4 = 16, 32 -> 2x2 = 4: 84 rows.
    # Stride 16, row 2, col 3 is row 64 + 2 * 4 + 3 = 75.
    output = np.zeros((1, 84, 7), np.float32)
    output[0, 75] = [0.5, 0.25, np.log(2.0), 0.0, 0.5, 0.2, 0.6]
    (candidates,) = decode_yolox([output], params())
    # cx = (0.5 + 3) * 16 = 56, cy = (0.25 + 2) * 16 = 36, w = 2 * 16 = 32, h = 1 * 16 = 16
    np.testing.assert_allclose(candidates.boxes[75], [40, 28, 72, 44], rtol=1e-6)
    assert candidates.class_scores is not None
    np.testing.assert_allclose(candidates.class_scores[75], [0.1, 0.3], rtol=1e-6)
    # Row 0 (stride 8, cell 0, zero offsets): cx = cy = 0, w = h = 8.
    np.testing.assert_array_equal(candidates.boxes[0], [-4, -4, 4, 4])


def test_yolox_non_square_input_is_row_major_y_then_x() -> None:
    # 32 high, 64 wide: stride 8 -> 4 rows x 8 cols = 32, 16 -> 2 x 4 = 8, 32 -> 1 x 2 = 2.
    output = np.zeros((1, 42, 6), np.float32)
    (candidates,) = decode_yolox([output], params(input_hw=(32, 64)))
    # Row 9 at stride 8 is cell row 1, col 1: centre (8, 8); row 32 + 7 is stride 16, row 1,
    # col 3: centre (48, 16); the last row is stride 32, row 0, col 1: centre (32, 0).
    np.testing.assert_array_equal(candidates.boxes[9], [4, 4, 12, 12])
    np.testing.assert_array_equal(candidates.boxes[39], [40, 8, 56, 24])
    np.testing.assert_array_equal(candidates.boxes[41], [16, -16, 48, 16])


def test_yolox_custom_strides_and_a_size_not_divisible_by_them() -> None:
    # 40x40 with strides (16, 32): ceil(40/16) = 3 -> 9 cells, ceil(40/32) = 2 -> 4 cells.
    assert grid_cell_count((40, 40), (16, 32)) == 13
    output = np.zeros((2, 13, 6), np.float32)
    output[1, 12, :2] = 0.5  # image 1, stride 32, row 1, col 1: centre (48, 48), size 32
    first, second = decode_yolox([output], params(input_hw=(40, 40), strides=(16, 32)))
    np.testing.assert_array_equal(second.boxes[12], [32, 32, 64, 64])
    np.testing.assert_array_equal(first.boxes[12], [16, 16, 48, 48])


def test_yolox_refuses_a_grid_that_does_not_fit_the_input() -> None:
    with pytest.raises(LayoutError, match=r"20 rows, but strides \(8, 16, 32\) .* give 21"):
        decode_yolox([np.zeros((1, 20, 7), np.float32)], params(input_hw=(32, 32)))
    with pytest.raises(LayoutError, match="strides must be positive"):
        decode_yolox([np.zeros((1, 21, 7), np.float32)], params(strides=(0, 8)))
    with pytest.raises(LayoutError, match="objectness and 80 classes"):
        decode_yolox([np.zeros((1, 84, 7), np.float32)], params(num_classes=80))


# --- both objectness layouts: rows that cannot score above the floor ------------------------


def test_a_row_whose_objectness_is_under_the_floor_is_left_out() -> None:
    # Scores are obj x p with p <= 1: row 0 (obj 0.3) scores at most 0.3, under a 0.4 floor;
    # row 1 (obj exactly 0.4) may reach it and stays, scored 0.4 x (0.5, 1.0).
    output = np.zeros((1, 21, 7), np.float32)
    output[0, 0, 4:] = [0.3, 1.0, 1.0]
    output[0, 1, 4:] = [0.4, 0.5, 1.0]
    output[0, 2, :4] = [1, 1, 2, 2]  # obj 0: out
    (yolox,) = decode_yolox([output], params(input_hw=(32, 32), score_floor=0.4))
    (yolov5,) = decode_yolov5([output], params(score_floor=0.4))
    for candidates in (yolox, yolov5):
        assert candidates.class_scores is not None
        np.testing.assert_array_equal(candidates.class_scores, np.array([[0.2, 0.4]], np.float32))
    # Row 1 of the 32x32 yolox grid: stride 8, cell (col 1, row 0), zero offsets: centre (8, 0).
    np.testing.assert_array_equal(yolox.boxes, [[4, -4, 12, 4]])
    np.testing.assert_array_equal(yolov5.boxes, [[0, 0, 0, 0]])


@pytest.mark.parametrize("probability", [1.5, -0.1, np.nan])
def test_class_values_outside_0_1_keep_every_row(probability: float) -> None:
    # Not probabilities, so a score may exceed its objectness: no row can be ruled out.
    output = np.zeros((1, 21, 7), np.float32)
    output[0, 3, 5] = probability
    (yolox,) = decode_yolox([output], params(input_hw=(32, 32), score_floor=0.4))
    (yolov5,) = decode_yolov5([output], params(score_floor=0.4))
    assert len(yolox.boxes) == len(yolov5.boxes) == 21


@pytest.mark.parametrize("decoder", [decode_yolox, decode_yolov5])
def test_the_floor_changes_no_selection(decoder: Decoder) -> None:
    # Random sigmoid-like rows: what NMS selects from the rows kept equals what it selects
    # from every row, for floors from 0 to 0.9.
    rng = np.random.default_rng(7)
    output = rng.random((1, 84, 9), dtype=np.float32)
    output[..., :2] *= 4
    output[..., 2:4] = rng.normal(size=(1, 84, 2)).astype(np.float32)
    (every,) = decoder([output], params())
    for floor in (0.0, 0.1, 0.25, 0.5, 0.9):
        (kept,) = decoder([output], params(score_floor=floor))
        assert (len(kept.boxes) < len(every.boxes)) == (floor > output[0, :, 4].min())
        ours, theirs = (
            select(
                c.boxes,
                c.class_scores,
                confidence=floor,
                iou_threshold=0.5,
                max_detections=300,
                suppress=batched_nms,
            )
            for c in (kept, every)
            if c.class_scores is not None
        )
        np.testing.assert_array_equal(kept.boxes[ours.rows], every.boxes[theirs.rows])
        np.testing.assert_array_equal(ours.confidence, theirs.confidence)
        np.testing.assert_array_equal(ours.class_id, theirs.class_id)


# --- yolov2 ---------------------------------------------------------------------------------

# tx ty tw th to, class logits (0, ln 3): sigmoid(0) = 0.5, softmax = (0.25, 0.75).
CELL = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, float(np.log(3.0))]
BACKGROUND = [0.0, 0.0, 0.0, 0.0, -100.0, 0.0, 0.0]  # objectness sigmoid(-100) == 0


@pytest.mark.parametrize("channels_first", [False, True])
def test_yolov2_grid_with_anchors_sigmoid_exp_softmax(channels_first: bool) -> None:
    grid = np.tile(np.array(BACKGROUND, np.float32), (1, 2, 2, 1))
    grid[0, 1, 0] = CELL  # row 1, col 0
    output = grid.transpose(0, 3, 1, 2) if channels_first else grid
    p = params(num_classes=2, anchors=(((10.0, 20.0),),))
    (candidates,) = decode_yolov2([output], p)
    # 64 / 2 cells: stride 32. cx = (0.5 + 0) * 32 = 16, cy = (0.5 + 1) * 32 = 48, w 10, h 20
    np.testing.assert_allclose(candidates.boxes[2], [11, 38, 21, 58], rtol=1e-6)
    # obj 0.5 x softmax (0.25, 0.75)
    assert candidates.class_scores is not None
    np.testing.assert_allclose(candidates.class_scores[2], [0.125, 0.375], rtol=1e-6)
    assert candidates.class_scores[0].tolist() == [0.0, 0.0]


def test_yolov2_each_cell_holds_its_anchors_in_order() -> None:
    # NCHW, 2 anchors on a 1x1 grid of a 32x32 input: channels are anchor 0's 7, then anchor 1's.
    cell = np.array(CELL + CELL, np.float32).reshape(1, 14, 1, 1)
    p = params(input_hw=(32, 32), anchors=(((8.0, 8.0), (16.0, 4.0)),))
    (candidates,) = decode_yolov2([cell], p)
    # Both centred at (16, 16): anchor 0 is 8x8, anchor 1 16 wide and 4 high.
    np.testing.assert_allclose(candidates.boxes, [[12, 12, 20, 20], [8, 14, 24, 18]], rtol=1e-6)


def test_yolov2_refuses_missing_anchors_and_undecidable_axes() -> None:
    with pytest.raises(LayoutError, match="anchors are required"):
        decode_yolov2([np.zeros((1, 2, 2, 7), np.float32)], params(num_classes=2))
    one_anchor = params(num_classes=2, anchors=(((10.0, 20.0),),))
    with pytest.raises(LayoutError, match=r"NHWC or NCHW .* both axes fit"):
        decode_yolov2([np.zeros((1, 7, 2, 7), np.float32)], one_anchor)
    with pytest.raises(LayoutError, match="neither axis 1 nor 3 fits"):
        decode_yolov2([np.zeros((1, 8, 2, 8), np.float32)], one_anchor)
    with pytest.raises(LayoutError, match="rank-4"):
        decode_yolov2([np.zeros((1, 2, 2, 1, 7), np.float32)], one_anchor)


# --- yolov3 ---------------------------------------------------------------------------------


def test_yolov3_one_head_per_stride_in_both_shapes_with_sigmoid_classes() -> None:
    coarse = np.tile(np.array(BACKGROUND, np.float32), (1, 2, 2, 1)).transpose(0, 3, 1, 2)  # NCHW
    coarse[0, :, 0, 1] = CELL  # stride 32, row 0, col 1: centre (48, 16)
    # (B, A, H, W, 5 + nc), stride 16
    fine = np.tile(np.array(BACKGROUND, np.float32), (1, 1, 4, 4, 1))
    fine[0, 0, 3, 3] = CELL  # row 3, col 3: centre (56, 56)
    p = params(anchors=(((8.0, 8.0),), ((4.0, 6.0),)))
    (candidates,) = decode_yolov3([coarse, fine], p)
    assert candidates.boxes.shape == (4 + 16, 4)
    np.testing.assert_allclose(candidates.boxes[1], [44, 12, 52, 20], rtol=1e-6)
    np.testing.assert_allclose(candidates.boxes[4 + 15], [54, 53, 58, 59], rtol=1e-6)
    # obj 0.5 x (sigmoid(0), sigmoid(ln 3)) = 0.5 x (0.5, 0.75)
    assert candidates.class_scores is not None
    np.testing.assert_allclose(candidates.class_scores[1], [0.25, 0.375], rtol=1e-6)


def test_yolov3_batch() -> None:
    head = np.tile(np.array(BACKGROUND, np.float32), (2, 1, 1, 1)).reshape(2, 7, 1, 1)
    head[1, :, 0, 0] = CELL
    first, second = decode_yolov3([head], params(anchors=(((8.0, 8.0),),)))
    assert first.class_scores is not None and second.class_scores is not None
    assert first.class_scores.max() == 0
    np.testing.assert_allclose(second.class_scores[0], [0.25, 0.375], rtol=1e-6)


def test_yolov3_refuses_heads_without_matching_anchor_sets() -> None:
    head = np.zeros((1, 7, 2, 2), np.float32)
    with pytest.raises(LayoutError, match="2 heads but 1 anchor sets"):
        decode_yolov3([head, head], params(anchors=(((8.0, 8.0),),)))
    with pytest.raises(LayoutError, match="0 heads"):
        decode_yolov3([], params())
    with pytest.raises(LayoutError, match="is not \\(B, 2 anchors, H, W, 5 \\+ nc\\)"):
        decode_yolov3([np.zeros((1, 1, 2, 2, 7))], params(anchors=(((8.0, 8.0), (4.0, 4.0)),)))
    with pytest.raises(LayoutError, match="rank-4 or rank-5"):
        decode_yolov3([np.zeros((1, 7, 2))], params(anchors=(((8.0, 8.0),),)))
    other_classes = np.zeros((1, 8, 1, 1), np.float32)
    with pytest.raises(LayoutError, match="disagree on batch size or class count"):
        decode_yolov3([head, other_classes], params(anchors=(((8.0, 8.0),),) * 2))


# --- end2end --------------------------------------------------------------------------------


def test_end2end_rows_are_passed_through_in_order() -> None:
    rows = np.array([[[1, 2, 3, 4, 0.9, 7], [5, 6, 7, 8, 0.95, 2], [0, 0, 0, 0, 0, 0]]], np.float16)
    (candidates,) = decode_end2end([rows], params())
    assert candidates.class_scores is None  # rows the model selected: no NMS again
    np.testing.assert_array_equal(candidates.boxes, [[1, 2, 3, 4], [5, 6, 7, 8], [0, 0, 0, 0]])
    assert candidates.boxes.dtype == np.float32
    assert candidates.confidence is not None and candidates.class_id is not None
    assert candidates.confidence.dtype == np.float32
    np.testing.assert_allclose(candidates.confidence, [0.9, 0.95, 0], rtol=1e-3)  # not re-sorted
    assert candidates.class_id.dtype == np.int64
    assert candidates.class_id.tolist() == [7, 2, 0]


def test_end2end_batch_empty_and_malformed() -> None:
    rows = np.zeros((2, 1, 6), np.float32)
    rows[1, 0] = [1, 1, 2, 2, 0.5, 3]
    first, second = decode_end2end([rows], params())
    assert first.class_id is not None and second.class_id is not None
    assert (first.class_id.tolist(), second.class_id.tolist()) == ([0], [3])
    (empty,) = decode_end2end([np.zeros((1, 0, 6), np.float32)], params())
    assert empty.boxes.shape == (0, 4)
    assert empty.class_id is not None and empty.class_id.shape == (0,)
    with pytest.raises(LayoutError, match="x1 y1 x2 y2 score class"):
        decode_end2end([np.zeros((1, 5, 7), np.float32)], params())


# --- against ultralytics' own outputs (oracle) -----------------------------------------------


def oracle_case(oracle_dir: Path, model: str, image: str = "bus", conf: str = "0.25") -> tuple[
    np.ndarray, dict[str, np.ndarray]
]:  # fmt: skip
    run = "320" if "320" in model else "640"
    raw = np.load(oracle_dir / "raw" / f"{model}__{image}__{run}.npz")["raw_output"]
    case = np.load(oracle_dir / "cases" / f"{model}__{image}__{run}__conf{conf}.npz")
    return raw, dict(case)


def anchors_of(boxes: np.ndarray, selected: np.ndarray) -> np.ndarray:
    """For each selected xyxy box, the index of the candidate with exactly that box."""
    equal = (boxes[None, :, :] == selected[:, None, :]).all(axis=2)
    assert equal.any(axis=1).all(), "a box ultralytics selected is not among the candidates"
    return equal.argmax(axis=1)


@pytest.mark.parametrize("model", ["yolov8n_640_static", "yolov8n_nc3_320"])
def test_yolov8_decodes_ultralytics_raw_output(oracle_dir: Path, model: str) -> None:
    raw, case = oracle_case(oracle_dir, model)
    channels = raw.shape[1]
    (candidates,) = decode_yolov8([raw], LayoutParams(input_hw=tuple(case["input_hw"])))
    columns = raw[0].T  # naive reference: one row per anchor, cx cy w h, then class scores
    half = columns[:, 2:4] / np.float32(2)
    expected = np.concatenate([columns[:, :2] - half, columns[:, :2] + half], axis=1)
    np.testing.assert_array_equal(candidates.boxes, expected)
    np.testing.assert_array_equal(candidates.class_scores, columns[:, 4:channels])
    # Every detection ultralytics kept (before scale_boxes) is one of our candidates, with its
    # class score equal to ultralytics' confidence.
    selected = case["nms_out_letterbox"]
    rows = anchors_of(candidates.boxes, selected[:, :4])
    assert candidates.class_scores is not None
    picked = candidates.class_scores[rows, selected[:, 5].astype(np.int64)]
    np.testing.assert_array_equal(picked, selected[:, 4])


def test_yolov8_pose_keypoints_match_ultralytics(oracle_dir: Path) -> None:
    raw, case = oracle_case(oracle_dir, "yolov8n_pose_640")
    p = LayoutParams(input_hw=(640, 640), num_classes=1, num_keypoints=17)
    (candidates,) = decode_yolov8([raw], p)
    selected = case["nms_out_letterbox"]  # x1 y1 x2 y2 conf cls, then 17 x (x, y, visibility)
    rows = anchors_of(candidates.boxes, selected[:, :4])
    expected = selected[:, 6:].reshape(-1, 17, 3)
    assert candidates.keypoints is not None and candidates.keypoint_scores is not None
    np.testing.assert_array_equal(candidates.keypoints[rows], expected[..., :2])
    np.testing.assert_array_equal(candidates.keypoint_scores[rows], expected[..., 2])


@pytest.mark.parametrize(
    ("model", "image"), [("yolo26n_e2e_640", "bus"), ("yolov8n_nms_640", "zidane")]
)
def test_end2end_keeps_ultralytics_rows_in_order(oracle_dir: Path, model: str, image: str) -> None:
    raw, case = oracle_case(oracle_dir, model, image)
    (candidates,) = decode_end2end([raw], LayoutParams(input_hw=(640, 640)))
    assert candidates.confidence is not None and candidates.class_id is not None
    # ultralytics keeps the rows scoring above conf, in the model's order, and nothing else.
    kept = candidates.confidence > case["conf_thres"]
    selected = case["nms_out_letterbox"]
    np.testing.assert_array_equal(candidates.boxes[kept], selected[:, :4])
    np.testing.assert_array_equal(candidates.confidence[kept], selected[:, 4])
    np.testing.assert_array_equal(candidates.class_id[kept], selected[:, 5].astype(np.int64))
