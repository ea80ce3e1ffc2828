"""Oriented boxes: probIoU against the Gaussian formula and Ultralytics' numbers, Fast-NMS
against a naive loop, corners, and the letterbox inverse.

Values said to be Ultralytics' were recorded with Ultralytics 8.4.190 (``batch_probiou``,
``TorchNMS.fast_nms``, ``ops.xywhr2xyxyxyxy``) on torch 2.14.1, not with the code under test.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import ArrayLike, NDArray

from detection import (
    DetectionError,
    batched_rotated_nms,
    letterbox,
    probiou,
    rotated_nms,
    xywhr_to_corners,
)
from detection import rotated as rotated_module
from detection.rotated import corners_to_xyxy, rotated_to_image

PROPERTY = settings(database=None, deadline=None, derandomize=True, max_examples=200)

BOXES = np.array(
    [
        [50, 50, 40, 20, 0.0],
        [55, 52, 40, 20, 0.3],
        [50, 50, 20, 40, math.pi / 2],  # the first box, w/h swapped and turned a quarter
        [300, 40, 10, 80, -0.7],
        [52, 49, 30, 30, 2.2],
    ],
    dtype=np.float32,
)
# batch_probiou(BOXES, BOXES), Ultralytics 8.4.190.
ULTRALYTICS_PROBIOU = [
    [0.9995318055152893, 0.7676354646682739, 0.9995318055152893, 0.0, 0.7444421052932739],
    [0.7676354646682739, 0.9995318055152893, 0.7676354646682739, 0.0, 0.7123410701751709],
    [0.9995318055152893, 0.7676354646682739, 0.9995318055152893, 0.0, 0.7444421052932739],
    [0.0, 0.0, 0.0, 0.9995318055152893, 0.0],
    [0.7444421052932739, 0.7123410701751709, 0.7444421052932739, 0.0, 0.9995318055152893],
]


def gaussian_probiou(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    """The paper's formula with 2x2 matrices in float64: Bhattacharyya distance of the boxes'
    Gaussians (covariance R diag(w^2, h^2) R^T / 12), clamped, then 1 - Hellinger distance."""

    def covariance(box: NDArray[np.float64]) -> NDArray[np.float64]:
        c, s = math.cos(box[4]), math.sin(box[4])
        rotation = np.array([[c, -s], [s, c]])
        return rotation @ np.diag([box[2] ** 2 / 12, box[3] ** 2 / 12]) @ rotation.T

    first, second = covariance(a), covariance(b)
    mean = (first + second) / 2
    delta = b[:2] - a[:2]
    distance = float(delta @ np.linalg.inv(mean) @ delta) / 8 + 0.5 * math.log(
        np.linalg.det(mean) / math.sqrt(np.linalg.det(first) * np.linalg.det(second))
    )
    distance = min(max(distance, 1e-7), 100.0)
    return 1 - math.sqrt(1 - math.exp(-distance) + 1e-7)


def test_probiou_gives_ultralytics_numbers() -> None:
    np.testing.assert_allclose(probiou(BOXES, BOXES), ULTRALYTICS_PROBIOU, atol=3e-6, rtol=0)
    assert probiou(BOXES, BOXES).dtype == np.float32
    assert probiou(BOXES[:2], BOXES).shape == (2, 5)


rotated_boxes = st.tuples(
    st.floats(-200, 200), st.floats(-200, 200), st.floats(2, 120), st.floats(2, 120),
    st.floats(-math.pi / 4, 3 * math.pi / 4),
)  # fmt: skip
# Sides at most 7.5 : 1. Thinner boxes make a * b - c^2 cancel in float32 (Ultralytics' own
# computation too), so there only the recorded Ultralytics values above can judge.
squat_boxes = st.tuples(
    st.floats(-200, 200), st.floats(-200, 200), st.floats(8, 60), st.floats(8, 60),
    st.floats(-math.pi / 4, 3 * math.pi / 4),
)  # fmt: skip


def assert_same_distance(actual: ArrayLike, expected: ArrayLike) -> None:
    """Compare probIoUs as (1 - probIoU)^2 = 1 - exp(-bd) + 1e-7, where float32 rounding stays
    small: near-identical boxes put 1 - probIoU near sqrt(1e-7), where its float32 error is
    amplified (Ultralytics' float32 computation has the same)."""
    squared_actual = (1 - np.asarray(actual, dtype=np.float64)) ** 2
    squared_expected = (1 - np.asarray(expected, dtype=np.float64)) ** 2
    np.testing.assert_allclose(squared_actual, squared_expected, rtol=1e-4, atol=1e-5)


squat_pairs = st.tuples(squat_boxes, squat_boxes).map(lambda ab: np.array(ab, np.float32))


@PROPERTY
@given(squat_pairs)
def test_probiou_is_the_gaussian_formula_and_symmetric(pair: NDArray[np.float32]) -> None:
    ours = probiou(pair, pair)
    assert_same_distance(ours[0, 1], gaussian_probiou(*pair.astype(np.float64)))
    assert_same_distance(ours[0, 1], ours[1, 0])
    assert -1e-6 <= ours[0, 1] <= 1


@PROPERTY
@given(squat_pairs)
def test_the_same_box_described_another_way_has_the_same_overlap(
    pair: NDArray[np.float32],
) -> None:
    x, y, w, h, angle = pair[1]
    turned = np.array([[x, y, w, h, angle + math.pi], [x, y, h, w, angle + math.pi / 2]])
    expected = probiou(pair[:1], pair[1:])[0, 0]
    assert_same_distance(probiou(pair[:1], turned)[0], [expected, expected])


def test_identical_boxes_give_about_one_and_distant_ones_zero() -> None:
    box = np.array([[10, 10, 30, 5, 0.4]], dtype=np.float32)
    far = box + np.array([[500, 0, 0, 0, 0]], dtype=np.float32)
    assert probiou(box, box)[0, 0] == pytest.approx(0.99953, abs=1e-5)
    assert probiou(box, far)[0, 0] == 0


def naive_fast_nms(
    boxes: NDArray[np.float32], scores: NDArray[np.float32], classes: NDArray[np.int64], t: float
) -> list[int]:
    """Fast-NMS as a plain loop: j survives iff no box ranked before it (kept or not) of its
    class overlaps it by more than t. Overlaps come from probiou, checked above, on the boxes
    moved by Ultralytics' class offset (cx, cy + class * 7680 in float32), as it compares them."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    moved = boxes.copy()
    moved[:, :2] += (classes.astype(np.float32) * np.float32(7680))[:, None]
    overlaps = probiou(moved, moved)
    kept = []
    for rank, j in enumerate(order):
        earlier = order[:rank]
        if not any(classes[i] == classes[j] and overlaps[i, j] > np.float32(t) for i in earlier):
            kept.append(j)
    return kept


NmsCase = tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.int64], float]


@st.composite
def nms_cases(draw: st.DrawFn) -> NmsCase:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    count = draw(st.integers(0, 40))
    centres = rng.uniform(0, 120, (count, 2))
    sizes = rng.uniform(4, 60, (count, 2))
    angles = rng.uniform(-math.pi / 4, 3 * math.pi / 4, (count, 1))
    boxes = np.concatenate([centres, sizes, angles], axis=1).astype(np.float32)
    # Half the cases draw scores from a few values, so ties are frequent.
    tied = draw(st.booleans())
    scores = (rng.choice([0.3, 0.6, 0.9], count) if tied else rng.random(count)).astype(np.float32)
    classes = rng.integers(0, 3, count)
    return boxes, scores, classes, draw(st.floats(0.05, 0.95))


@PROPERTY
@given(nms_cases())
def test_rotated_nms_equals_naive_fast_nms(
    case: NmsCase,
) -> None:
    boxes, scores, classes, threshold = case
    kept = batched_rotated_nms(boxes, scores, classes, threshold)
    assert kept.dtype == np.int64
    assert kept.tolist() == naive_fast_nms(boxes, scores, classes, threshold)
    single = rotated_nms(boxes, scores, threshold)
    assert single.tolist() == naive_fast_nms(boxes, scores, np.zeros_like(classes), threshold)


@PROPERTY
@given(nms_cases())
def test_every_dropped_box_overlaps_a_better_one_and_survivors_are_best_first(
    case: NmsCase,
) -> None:
    boxes, scores, _, threshold = case
    kept = rotated_nms(boxes, scores, threshold)
    assert np.all(np.diff(scores[kept]) <= 0)
    overlaps = probiou(boxes, boxes)
    for j in sorted(set(range(len(scores))) - set(kept.tolist())):
        better = (scores > scores[j]) | ((scores == scores[j]) & (np.arange(len(scores)) < j))
        assert (overlaps[better, j] > np.float32(threshold)).any()


def test_fast_nms_drops_a_box_whose_suppressor_was_itself_suppressed() -> None:
    # probIoU A-B 0.759, B-C 0.759, A-C 0.538 (Ultralytics' numbers): at 0.6 greedy NMS would
    # keep A and C; Ultralytics' fast_nms keeps only A (recorded: [0]).
    chain = np.array([[0, 0, 40, 20, 0], [8, 0, 40, 20, 0], [16, 0, 40, 20, 0]], np.float32)
    assert rotated_nms(chain, [0.9, 0.8, 0.7], 0.6).tolist() == [0]


def test_suppression_is_strictly_greater_than_the_threshold() -> None:
    pair = np.array([[0, 0, 40, 20, 0], [8, 0, 40, 20, 0]], np.float32)
    overlap = float(probiou(pair[:1], pair[1:])[0, 0])
    assert rotated_nms(pair, [0.9, 0.8], overlap).tolist() == [0, 1]
    assert rotated_nms(pair, [0.9, 0.8], overlap - 1e-6).tolist() == [0]


def test_classes_never_suppress_each_other_and_ties_go_by_index() -> None:
    same = np.array([[10, 10, 20, 20, 0.1]] * 3, np.float32)
    assert batched_rotated_nms(same, [0.5, 0.5, 0.5], [1, 0, 1], 0.5).tolist() == [0, 1]
    assert rotated_nms(same, [0.5, 0.5, 0.5], 0.5).tolist() == [0]


def test_the_blocked_matrix_gives_the_same_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    boxes = np.concatenate(
        [rng.uniform(0, 80, (60, 2)), rng.uniform(5, 40, (60, 2)), rng.uniform(0, 3, (60, 1))],
        axis=1,
    ).astype(np.float32)
    scores = rng.random(60).astype(np.float32)
    whole = rotated_nms(boxes, scores, 0.4)
    monkeypatch.setattr(rotated_module, "_BLOCK_ELEMENTS", 100)  # one row at a time
    assert rotated_nms(boxes, scores, 0.4).tolist() == whole.tolist()


def test_empty_and_mismatched_inputs() -> None:
    kept = rotated_nms(np.zeros((0, 5)), np.zeros(0), 0.5)
    assert kept.shape == (0,) and kept.dtype == np.int64
    assert probiou(np.zeros(0), BOXES).shape == (0, 5)
    with pytest.raises(DetectionError, match="same N boxes"):
        batched_rotated_nms(BOXES[:2], [0.5], [0, 0], 0.5)
    with pytest.raises(DetectionError, match=r"\(N, 5\)"):
        probiou(np.zeros((2, 4)), BOXES)


def test_corners_are_ultralytics_xywhr2xyxyxyxy() -> None:
    corners = xywhr_to_corners(BOXES[:2])
    recorded = [
        [[70.0, 60.0], [70.0, 40.0], [30.0, 40.0], [30.0, 60.0]],
        [[71.15152740478516, 67.4637680053711], [77.06192779541016, 48.35704040527344],
         [38.848472595214844, 36.536231994628906], [32.938072204589844, 55.64295959472656]],
    ]  # fmt: skip
    np.testing.assert_allclose(corners, recorded, atol=1e-4)
    assert corners.dtype == np.float32


@PROPERTY
@given(rotated_boxes)
def test_corners_form_the_rectangle(box: tuple[float, ...]) -> None:
    corners = xywhr_to_corners(np.array([box], dtype=np.float32))[0].astype(np.float64)
    np.testing.assert_allclose(corners.mean(axis=0), box[:2], atol=1e-3)
    sides = np.linalg.norm(corners - np.roll(corners, -1, axis=0), axis=1)
    np.testing.assert_allclose(sides, [box[3], box[2], box[3], box[2]], rtol=1e-4, atol=1e-3)


def test_the_hull_of_the_corners_is_the_axis_aligned_box() -> None:
    upright = np.array([[10, 20, 8, 4, 0.0], [10, 20, 8, 4, math.pi / 2]], np.float32)
    hull = corners_to_xyxy(xywhr_to_corners(upright))
    np.testing.assert_allclose(hull, [[6, 18, 14, 22], [8, 16, 12, 24]], atol=1e-5)
    with pytest.raises(DetectionError, match=r"\(N, K, 2\)"):
        corners_to_xyxy(np.zeros((1, 0, 2)))


def test_boxes_map_back_through_the_letterbox_unclipped() -> None:
    transform = letterbox((720, 1280), (640, 640))  # gain 0.5, 140 px pad at the top
    in_input = np.array([[-10, 150, 100, 40, 2.2]], np.float32)
    np.testing.assert_allclose(
        rotated_to_image(in_input, transform), [[-20, 20, 200, 80, 2.2]], rtol=1e-6
    )
