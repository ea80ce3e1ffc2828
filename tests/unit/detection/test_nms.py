"""NMS against a naive greedy reference written independently, over many random cases."""

import numpy as np
import pytest
from numpy.typing import NDArray

from detection import DetectionError, batched_nms, nms
from detection.nms import select


def naive_greedy(
    boxes: NDArray[np.float64], scores: NDArray[np.float64], classes: NDArray[np.int64], t: float
) -> list[int]:
    """Textbook greedy NMS with plain Python arithmetic (float32 IoU like torchvision)."""

    def iou(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
        a32, b32 = a.astype(np.float32), b.astype(np.float32)
        w = max(np.float32(0), min(a32[2], b32[2]) - max(a32[0], b32[0]))
        h = max(np.float32(0), min(a32[3], b32[3]) - max(a32[1], b32[1]))
        inter = np.float32(w * h)
        area_a = (a32[2] - a32[0]) * (a32[3] - a32[1])
        area_b = (b32[2] - b32[0]) * (b32[3] - b32[1])
        union = np.float32(area_a + area_b - inter)
        return float(inter / union) if union > 0 else 0.0

    order = sorted(range(len(scores)), key=lambda i: (-np.float32(scores[i]), i))
    keep: list[int] = []
    for i in order:
        if all(classes[i] != classes[j] or iou(boxes[i], boxes[j]) <= t for j in keep):
            keep.append(i)
    return keep


def random_case(
    seed: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64], float]:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 80))
    xy = rng.uniform(-60, 60, (n, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(1, 50, (n, 2))], axis=1)
    # Half the cases draw scores from a few values, so ties are frequent.
    scores = rng.choice([0.2, 0.5, 0.9], n) if seed % 2 else rng.random(n)
    classes = rng.integers(0, 4, n)
    return boxes, scores, classes, float(rng.uniform(0.05, 0.95))


@pytest.mark.parametrize("seed", range(300))
def test_batched_nms_equals_naive_greedy(seed: int) -> None:
    boxes, scores, classes, threshold = random_case(seed)
    expected = naive_greedy(boxes, scores, classes, threshold)
    kept = batched_nms(boxes, scores, classes, threshold)
    assert kept.dtype == np.int64
    assert kept.tolist() == expected
    # The memory-bounded sequential strategy gives the same answer.
    assert batched_nms(boxes, scores, classes, threshold, max_pairs=0).tolist() == expected


@pytest.mark.parametrize("seed", range(40))
def test_batched_equals_a_loop_of_per_class_nms(seed: int) -> None:
    boxes, scores, classes, threshold = random_case(seed)
    per_class = [
        int(np.flatnonzero(classes == c)[i])
        for c in np.unique(classes)
        for i in nms(boxes[classes == c], scores[classes == c], threshold)
    ]
    merged = sorted(per_class, key=lambda i: (-np.float32(scores[i]), i))
    assert batched_nms(boxes, scores, classes, threshold).tolist() == merged


def test_boxes_of_different_classes_never_suppress_each_other_at_negative_coordinates() -> None:
    # torchvision's offset trick (offset = class * (max_coordinate + 1)) makes these two boxes
    # overlap: max coordinate is 1, so class 1 is shifted by only 2 px onto class 0's box.
    boxes = np.array([[-100, -100, -98, -98], [-102, -102, -100, -100]], dtype=np.float32)
    boxes[1] = boxes[0] - 2
    kept = batched_nms(boxes, [0.9, 0.8], [0, 1], 0.1)
    assert sorted(kept.tolist()) == [0, 1]
    shifted_onto_each_other = boxes + np.array([[0, 0, 0, 0], [2, 2, 2, 2]], dtype=np.float32)
    assert nms(shifted_onto_each_other, [0.9, 0.8], 0.5).tolist() == [0]


def test_suppression_is_strictly_greater_than_threshold() -> None:
    boxes = [[0, 0, 10, 10], [5, 0, 15, 10]]  # IoU = 50 / 150 = 1/3 exactly in float32? no:
    iou = np.float32(50) / np.float32(150)
    assert nms(boxes, [0.9, 0.8], float(iou)).tolist() == [0, 1]
    assert nms(boxes, [0.9, 0.8], float(iou) - 1e-6).tolist() == [0]


def test_ties_are_broken_by_index_deterministically() -> None:
    boxes = [[0, 0, 10, 10], [0, 0, 10, 10], [20, 20, 30, 30]]
    assert nms(boxes, [0.5, 0.5, 0.5], 0.5).tolist() == [0, 2]


def test_empty_and_mismatched_inputs() -> None:
    kept = nms(np.zeros((0, 4)), np.zeros(0), 0.5)
    assert kept.shape == (0,)
    assert kept.dtype == np.int64
    with pytest.raises(DetectionError, match="same N boxes"):
        batched_nms([[0, 0, 1, 1]], [0.5, 0.4], [0], 0.5)


def scores_for(rows: list[list[float]]) -> NDArray[np.float32]:
    return np.array(rows, dtype=np.float32)


BOXES = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 60, 60]], dtype=np.float32)


def test_select_takes_best_class_strictly_above_confidence() -> None:
    scores = scores_for([[0.1, 0.9], [0.3, 0.2], [0.25, 0.0]])
    chosen = select(BOXES, scores, confidence=0.25, iou_threshold=0.5, max_detections=10)
    assert chosen.rows.tolist() == [0, 1]  # row 2's 0.25 is not > 0.25
    assert chosen.class_id.tolist() == [1, 0]  # different classes: no suppression
    np.testing.assert_allclose(chosen.confidence, [0.9, 0.3])
    assert chosen.truncated is False


def test_select_agnostic_suppresses_across_classes() -> None:
    scores = scores_for([[0.1, 0.9], [0.3, 0.2], [0.0, 0.0]])
    chosen = select(
        BOXES, scores, confidence=0.25, iou_threshold=0.5, max_detections=10, class_agnostic=True
    )
    assert chosen.rows.tolist() == [0]


def test_select_multi_label_keeps_every_class_above_confidence() -> None:
    scores = scores_for([[0.6, 0.9], [0.0, 0.0], [0.4, 0.0]])
    chosen = select(
        BOXES, scores, confidence=0.3, iou_threshold=0.5, max_detections=10, multi_label=True
    )
    assert list(zip(chosen.rows.tolist(), chosen.class_id.tolist(), strict=True)) == [
        (0, 1),
        (0, 0),
        (2, 0),
    ]


def test_select_class_filter_cap_and_max_detections() -> None:
    scores = scores_for([[0.9, 0.0], [0.0, 0.8], [0.7, 0.0]])
    only_zero = select(
        BOXES, scores, confidence=0.1, iou_threshold=0.9, max_detections=10, classes=[0]
    )
    assert only_zero.rows.tolist() == [0, 2]
    capped = select(BOXES, scores, confidence=0.1, iou_threshold=0.9, max_detections=10,
                    max_candidates=2)  # fmt: skip
    assert capped.truncated is True
    assert capped.rows.tolist() == [0, 1]
    assert select(BOXES, scores, confidence=0.1, iou_threshold=0.9,
                  max_detections=1).rows.tolist() == [0]  # fmt: skip


def test_select_on_no_rows_and_no_classes() -> None:
    empty = select(np.zeros((0, 4), np.float32), np.zeros((0, 0), np.float32), confidence=0.1,
                   iou_threshold=0.5, max_detections=5)  # fmt: skip
    assert empty.rows.shape == (0,)
    assert empty.rows.dtype == np.int64
