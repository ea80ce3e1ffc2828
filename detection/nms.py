"""Greedy non-maximum suppression: exact, deterministic, and with no time limit.

A box is suppressed when its IoU with a kept, higher-scored box *of the same class* is greater
than the threshold. Classes never interact: boxes are paired only within their class, instead of
torchvision's coordinate-offset trick, which lets classes touch when coordinates are negative
and costs float32 precision on large offsets. Ties in score are broken by input index.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from detection.boxes import as_boxes, paired_iou
from detection.errors import DetectionError

Int64Array = NDArray[np.int64]
#: An NMS: (boxes, scores, class_ids, iou_threshold) -> kept indices, best first.
Suppression = Callable[[ArrayLike, ArrayLike, ArrayLike, float], Int64Array]

# Above this many same-class, x-overlapping pairs, the pairwise strategy would use too much
# memory, so the sequential greedy loop (memory O(N)) is used instead. Both give the same result.
MAX_PAIRS = 1_000_000


def nms(boxes: ArrayLike, scores: ArrayLike, iou_threshold: float) -> Int64Array:
    """Indices of the boxes kept by greedy NMS, sorted by descending score."""
    scores_array = np.asarray(scores, dtype=np.float32)
    return batched_nms(boxes, scores_array, np.zeros(scores_array.shape, np.int64), iou_threshold)


def batched_nms(
    boxes: ArrayLike,
    scores: ArrayLike,
    class_ids: ArrayLike,
    iou_threshold: float,
    *,
    max_pairs: int = MAX_PAIRS,
) -> Int64Array:
    """Per-class NMS: indices kept, sorted by descending score (ties: lower index first)."""
    boxes_array = as_boxes(boxes)
    scores_array, classes = scored_classes(boxes_array, scores, class_ids)
    count = boxes_array.shape[0]
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    threshold = np.float64(iou_threshold)
    rank_order = np.lexsort((np.arange(count), -scores_array))
    rank = np.empty(count, dtype=np.int64)
    rank[rank_order] = np.arange(count)
    pairs = _overlapping_pairs(boxes_array, classes, threshold, max_pairs)
    if pairs is None:
        keep = _greedy_keep(boxes_array, classes, rank_order, threshold)
    else:
        keep = _keep_from_pairs(count, rank, *pairs)
    return rank_order[keep[rank_order]]


def scored_classes(
    boxes: NDArray[np.float32], scores: ArrayLike, class_ids: ArrayLike
) -> tuple[NDArray[np.float32], Int64Array]:
    """(N,) float32 scores and int64 class ids, checked to describe the N rows of ``boxes``."""
    scores_array = np.asarray(scores, dtype=np.float32)
    classes = np.asarray(class_ids).astype(np.int64, copy=False)
    count = boxes.shape[0]
    if scores_array.shape != (count,) or classes.shape != (count,):
        raise DetectionError(
            f"boxes {boxes.shape}, scores {scores_array.shape} and class_ids "
            f"{classes.shape} must describe the same N boxes"
        )
    return scores_array, classes


def _overlapping_pairs(
    boxes: NDArray[np.float32], classes: Int64Array, threshold: np.float64, max_pairs: int
) -> tuple[Int64Array, Int64Array] | None:
    """All same-class pairs with IoU > threshold, or None when there are too many candidates.

    A sweep on x1 within each class keeps the candidate pairs to boxes whose x-ranges overlap
    enough to reach the threshold.
    """
    count = boxes.shape[0]
    x_min = float(boxes[:, 0].min())
    span = np.ceil(float(boxes[:, 2].max()) - x_min) + 1.0
    class_base = (classes - classes.min()).astype(np.float64) * span
    x1, x2 = boxes[:, 0].astype(np.float64), boxes[:, 2].astype(np.float64)
    # IoU > t needs the x-overlap to exceed t x the earlier box's width (the overlap's height is
    # at most that box's height), so later boxes must start before x2 - t * width. The 0.999
    # keeps the window a little wider than needed; the exact IoU below decides.
    reach = x2 - max(float(threshold), 0.0) * 0.999 * (x2 - x1)
    starts = class_base + (x1 - x_min)
    ends = class_base + np.maximum(reach - x_min, 0.0)
    order = np.argsort(starts, kind="stable")
    window_end = np.searchsorted(starts[order], ends[order], side="left")
    partners = np.clip(window_end - np.arange(count) - 1, 0, None)
    total = int(partners.sum())
    if total > max_pairs:
        return None
    first = np.repeat(np.arange(count), partners)
    offsets = np.arange(total) - np.repeat(np.cumsum(partners) - partners, partners)
    a, b = order[first], order[first + 1 + offsets]
    overlapping = paired_iou(boxes[a], boxes[b]) > threshold
    return a[overlapping], b[overlapping]


def _keep_from_pairs(
    count: int, rank: Int64Array, a: Int64Array, b: Int64Array
) -> NDArray[np.bool_]:
    """Resolve greedy NMS from its suppression pairs by fixed-point iteration.

    keep[i] = no kept higher-ranked box suppresses i. Iterating from "all kept" makes every box
    correct once all its suppressors are, so it converges in (longest suppression chain + 1)
    rounds to the unique greedy answer.
    """
    a_first = rank[a] < rank[b]
    winner = np.where(a_first, a, b)
    loser = np.where(a_first, b, a)
    keep = np.ones(count, dtype=bool)
    while True:
        suppressed = np.zeros(count, dtype=bool)
        suppressed[loser[keep[winner]]] = True
        if np.array_equal(keep, ~suppressed):
            return keep
        keep = ~suppressed


def _greedy_keep(
    boxes: NDArray[np.float32], classes: Int64Array, rank_order: Int64Array, threshold: np.float64
) -> NDArray[np.bool_]:
    """The textbook loop: take the best remaining box, drop what it suppresses, repeat."""
    keep = np.zeros(boxes.shape[0], dtype=bool)
    remaining = rank_order
    while remaining.size:
        best, rest = remaining[0], remaining[1:]
        keep[best] = True
        suppressed = (classes[rest] == classes[best]) & (
            paired_iou(boxes[best], boxes[rest]) > threshold
        )
        remaining = rest[~suppressed]
    return keep


def select(
    boxes: NDArray[np.float32],
    class_scores: NDArray[np.float32],
    *,
    confidence: float,
    iou_threshold: float,
    max_detections: int,
    classes: ArrayLike | None = None,
    class_agnostic: bool = False,
    multi_label: bool = False,
    max_candidates: int = 30_000,
    suppress: Suppression = batched_nms,
) -> Selection:
    """Ultralytics' ``non_max_suppression`` rules on one image's (N, 4) boxes and (N, C) scores.

    A row is a candidate when its score is strictly above ``confidence``: its best class only,
    or every class above it with ``multi_label``. ``classes`` then keeps candidates of those
    classes; at most ``max_candidates`` best ones enter NMS (``truncated`` says when that cut
    anything); NMS is per class unless ``class_agnostic``; the best ``max_detections`` survive.
    ``suppress`` is the NMS: :func:`batched_nms` on xyxy boxes, or another with its signature
    (``detection.rotated.batched_rotated_nms`` on (N, 5) oriented boxes).
    """
    if multi_label:
        rows, class_id = np.nonzero(class_scores > confidence)
        scores = class_scores[rows, class_id]
    else:
        # The best score of every row first (cheap), the best class only of rows that pass.
        best_scores = class_scores.max(axis=1, initial=-np.inf)
        rows = np.flatnonzero(best_scores > confidence)
        class_id = class_scores[rows].argmax(axis=1) if rows.size else np.zeros(0, np.int64)
        scores = best_scores[rows]
    class_id = class_id.astype(np.int64, copy=False)
    if classes is not None:
        wanted = np.isin(class_id, np.asarray(classes, dtype=np.int64))
        rows, class_id, scores = rows[wanted], class_id[wanted], scores[wanted]
    truncated = rows.size > max_candidates
    if truncated:
        top = np.lexsort((np.arange(rows.size), -scores))[:max_candidates]
        rows, class_id, scores = rows[top], class_id[top], scores[top]
    groups = np.zeros_like(class_id) if class_agnostic else class_id
    kept = suppress(boxes[rows], scores, groups, iou_threshold)[:max_detections]
    return Selection(rows[kept].astype(np.int64), class_id[kept], scores[kept], truncated)


@dataclass(frozen=True)
class Selection:
    """What :func:`select` kept: source rows, their class and score, best first."""

    rows: Int64Array
    class_id: Int64Array
    confidence: NDArray[np.float32]
    truncated: bool
