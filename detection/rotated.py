"""Oriented boxes (cx, cy, w, h, angle): probabilistic IoU, suppression and corners.

Ultralytics 8.4.190's OBB rules, on purpose and not a textbook's, so its exports give its own
answer: overlap is ``batch_probiou`` (utils/metrics.py), the Bhattacharyya-distance IoU of the
Gaussians the boxes define, and suppression is ``TorchNMS.fast_nms`` (utils/nms.py): a box is
dropped when *any* higher-scored box, kept or not, overlaps it by more than the threshold, which
can drop more than greedy NMS would. Classes are kept apart as Ultralytics does, by moving each
class's centres ``class * 7680`` px away. All arithmetic is float32 in PyTorch's order, so
threshold decisions agree with it. Angles are radians and are never normalised.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from detection.boxes import as_rows
from detection.errors import DetectionError
from detection.geometry import Transform
from detection.nms import scored_classes

Float32Array = NDArray[np.float32]
Int64Array = NDArray[np.int64]

__all__ = [
    "batched_rotated_nms",
    "corners_to_xyxy",
    "probiou",
    "rotated_nms",
    "rotated_to_image",
    "xywhr_to_corners",
]

#: Ultralytics' ``max_wh``: the centre offset per class index that keeps classes apart.
CLASS_OFFSET = np.float32(7680)
_EPS = np.float32(1e-7)
#: Rows of the probIoU matrix computed at once: bounds memory at 30 000 candidates.
_BLOCK_ELEMENTS = 1_000_000


def as_rotated(boxes: ArrayLike) -> Float32Array:
    """Validate (N, 5) cx, cy, w, h, angle boxes and return them as float32."""
    return as_rows(boxes, 5, "rotated boxes")


def _rounded(
    function: Callable[[NDArray[np.float64]], NDArray[np.float64]], values: Float32Array
) -> Float32Array:
    """A transcendental function of float32 values, evaluated in float64 and rounded once.

    PyTorch's float32 ``cos``/``exp``/``log`` (SLEEF, within 1 ulp) and numpy's float32 ones
    disagree in the last bit often enough to move probIoU by 7e-5 near 1; the correctly
    rounded value is within 4e-6 of PyTorch's everywhere we measured.
    """
    return function(values.astype(np.float64)).astype(np.float32)


def _covariance(boxes: Float32Array) -> tuple[Float32Array, Float32Array, Float32Array]:
    """(a, b, c) of each box's Gaussian [[a, c], [c, b]]: variances w^2/12, h^2/12, rotated."""
    twelve = np.float32(12)
    var_w, var_h = boxes[:, 2] ** 2 / twelve, boxes[:, 3] ** 2 / twelve
    cos, sin = _rounded(np.cos, boxes[:, 4]), _rounded(np.sin, boxes[:, 4])
    cos2, sin2 = cos**2, sin**2
    return var_w * cos2 + var_h * sin2, var_w * sin2 + var_h * cos2, (var_w - var_h) * cos * sin


def probiou(boxes1: ArrayLike, boxes2: ArrayLike) -> Float32Array:
    """Probabilistic IoU of (N, 5) and (M, 5) xywhr boxes -> (N, M), in [0, 1) roughly.

    ``1 - sqrt(1 - exp(-bd) + 1e-7)`` with the Bhattacharyya distance ``bd`` clamped to
    [1e-7, 100] (https://arxiv.org/abs/2106.06072): identical boxes give 0.99953, distant
    ones 0. Symmetric up to float32 rounding, and it depends on the box only through its
    Gaussian, so w/h swapped with the angle turned by pi/2 is the same box.
    """
    first, second = as_rotated(boxes1), as_rotated(boxes2)
    x1, y1 = first[:, 0:1], first[:, 1:2]
    x2, y2 = second[None, :, 0], second[None, :, 1]
    a1, b1, c1 = (v[:, None] for v in _covariance(first))
    a2, b2, c2 = (v[None, :] for v in _covariance(second))
    a, b, c = a1 + a2, b1 + b2, c1 + c2
    denominator = a * b - c**2 + _EPS
    t1 = ((a * (y1 - y2) ** 2 + b * (x1 - x2) ** 2) / denominator) * np.float32(0.25)
    t2 = ((c * (x2 - x1) * (y1 - y2)) / denominator) * np.float32(0.5)
    det1 = np.maximum(a1 * b1 - c1**2, np.float32(0))
    det2 = np.maximum(a2 * b2 - c2**2, np.float32(0))
    spread = (a * b - c**2) / (np.float32(4) * np.sqrt(det1 * det2) + _EPS)
    t3 = _rounded(np.log, spread + _EPS) * np.float32(0.5)
    distance = np.clip(t1 + t2 + t3, _EPS, np.float32(100))
    hellinger = np.sqrt(np.float32(1) - _rounded(np.exp, -distance) + _EPS)
    result: Float32Array = np.float32(1) - hellinger
    return result


def rotated_nms(boxes: ArrayLike, scores: ArrayLike, iou_threshold: float) -> Int64Array:
    """Indices of the (N, 5) boxes Fast-NMS keeps, best score first (ties: lower index)."""
    scores_array = np.asarray(scores, dtype=np.float32)
    return batched_rotated_nms(
        boxes, scores_array, np.zeros(scores_array.shape, np.int64), iou_threshold
    )


def batched_rotated_nms(
    boxes: ArrayLike, scores: ArrayLike, class_ids: ArrayLike, iou_threshold: float
) -> Int64Array:
    """Per-class Fast-NMS of (N, 5) xywhr boxes: kept indices, best score first.

    Box j is kept iff no box ranked before it (higher score; ties by index), kept or not, of
    its class has ``probiou > iou_threshold``. Classes are separated like Ultralytics, by
    adding ``class * 7680`` to both centre coordinates in float32.
    """
    box_array = as_rotated(boxes)
    scores_array, classes = scored_classes(box_array, scores, class_ids)
    count = box_array.shape[0]
    order = np.lexsort((np.arange(count), -scores_array))
    ranked = box_array[order].copy()
    ranked[:, :2] += (classes[order].astype(np.float32) * CLASS_OFFSET)[:, None]
    threshold = np.float32(iou_threshold)
    suppressed = np.zeros(count, dtype=bool)
    block = max(1, _BLOCK_ELEMENTS // max(count, 1))
    for start in range(0, count, block):
        stop = min(start + block, count)
        overlaps = probiou(ranked[start:stop], ranked[start + 1 :])  # (rows, count - start - 1)
        later = np.arange(start + 1, count)[None, :] > np.arange(start, stop)[:, None]
        suppressed[start + 1 :] |= ((overlaps > threshold) & later).any(axis=0)
    return order[~suppressed].astype(np.int64)


def xywhr_to_corners(boxes: ArrayLike) -> Float32Array:
    """(N, 5) xywhr -> (N, 4, 2) corners in Ultralytics' order (``xywhr2xyxyxyxy``).

    With v1 = (w/2)(cos, sin) and v2 = (h/2)(-sin, cos): centre + v1 + v2, + v1 - v2,
    - v1 - v2, - v1 + v2.
    """
    array = as_rotated(boxes)
    centre = array[:, None, :2]
    half_w, half_h = array[:, 2:3] / np.float32(2), array[:, 3:4] / np.float32(2)
    cos, sin = _rounded(np.cos, array[:, 4:5]), _rounded(np.sin, array[:, 4:5])
    along_w = np.concatenate((half_w * cos, half_w * sin), axis=-1)[:, None, :]
    along_h = np.concatenate((-half_h * sin, half_h * cos), axis=-1)[:, None, :]
    signs_w = np.array([1, 1, -1, -1], dtype=np.float32)[None, :, None]
    signs_h = np.array([1, -1, -1, 1], dtype=np.float32)[None, :, None]
    corners: Float32Array = centre + signs_w * along_w + signs_h * along_h
    return corners


def corners_to_xyxy(corners: ArrayLike) -> Float32Array:
    """(N, K, 2) polygon corners -> (N, 4) axis-aligned hull x1, y1, x2, y2, unclipped."""
    array = np.asarray(corners, dtype=np.float32)
    if array.ndim != 3 or array.shape[2] != 2 or array.shape[1] == 0:
        raise DetectionError(f"corners must have shape (N, K, 2) with K >= 1, got {array.shape}")
    return np.concatenate((array.min(axis=1), array.max(axis=1)), axis=1)


def rotated_to_image(boxes: ArrayLike, transform: Transform) -> Float32Array:
    """(N, 5) xywhr from network-input pixels back to image pixels, unclipped.

    Ultralytics' ``scale_boxes(..., xywh=True)``: the offset is taken from the centre, then cx
    and w are divided by the x gain, cy and h by the y gain; the angle is unchanged (exact for
    the uniform gain of a letterbox; a stretch's unequal gains would shear a rotated box).
    """
    array = as_rotated(boxes).astype(np.float64)
    gain_x, gain_y = transform.gain_xy
    array[:, 0] = (array[:, 0] - transform.offset_xy[0]) / gain_x
    array[:, 1] = (array[:, 1] - transform.offset_xy[1]) / gain_y
    array[:, 2] /= gain_x
    array[:, 3] /= gain_y
    return array.astype(np.float32)
