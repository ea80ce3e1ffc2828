"""Box formats, areas, clipping and IoU: the geometry every other module builds on."""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from detection.errors import DetectionError

BoxFormat = Literal["xyxy", "xywh", "cxcywh"]
_FORMATS: tuple[str, ...] = ("xyxy", "xywh", "cxcywh")
_HALF = np.float32(0.5)


def as_rows(values: ArrayLike, columns: int, what: str) -> NDArray[np.float32]:
    """Validate an (N, columns) float32 array (no copy when already so); [] is (0, columns)."""
    array = np.asarray(values, dtype=np.float32)
    if array.ndim == 1 and array.size == 0:
        return array.reshape(0, columns)
    if array.ndim != 2 or array.shape[1] != columns:
        raise DetectionError(f"{what} must have shape (N, {columns}), got {array.shape}")
    return array


def as_boxes(boxes: ArrayLike) -> NDArray[np.float32]:
    """Validate an (N, 4) array of boxes and return it as float32 (no copy when already so)."""
    return as_rows(boxes, 4, "boxes")


def box_convert(boxes: ArrayLike, in_fmt: BoxFormat, out_fmt: BoxFormat) -> NDArray[np.float32]:
    """Convert (N, 4) boxes between xyxy, xywh (top-left + size) and cxcywh (centre + size)."""
    for fmt in (in_fmt, out_fmt):
        if fmt not in _FORMATS:
            raise DetectionError(f"unknown box format {fmt!r}; allowed: {', '.join(_FORMATS)}")
    array = as_boxes(boxes)
    if in_fmt == out_fmt:
        return array.copy()
    a, b, c, d = array[:, 0], array[:, 1], array[:, 2], array[:, 3]
    if in_fmt == "xywh":
        x1, y1, x2, y2 = a, b, a + c, b + d
    elif in_fmt == "cxcywh":
        half_w, half_h = c * _HALF, d * _HALF
        x1, y1, x2, y2 = a - half_w, b - half_h, a + half_w, b + half_h
    else:
        x1, y1, x2, y2 = a, b, c, d
    if out_fmt == "xyxy":
        columns = (x1, y1, x2, y2)
    elif out_fmt == "xywh":
        columns = (x1, y1, x2 - x1, y2 - y1)
    else:
        columns = ((x1 + x2) * _HALF, (y1 + y2) * _HALF, x2 - x1, y2 - y1)
    return np.stack(columns, axis=1).astype(np.float32, copy=False)


def box_area(boxes: ArrayLike) -> NDArray[np.float32]:
    """Area of xyxy boxes; degenerate boxes (x2 < x1 or y2 < y1) have area 0."""
    array = as_boxes(boxes)
    width: NDArray[np.float32] = np.clip(array[:, 2] - array[:, 0], 0, None)
    height: NDArray[np.float32] = np.clip(array[:, 3] - array[:, 1], 0, None)
    return (width * height).astype(np.float32, copy=False)


def clip_boxes(boxes: ArrayLike, image_hw: tuple[int, int]) -> NDArray[np.float32]:
    """Clip xyxy boxes to [0, width] x [0, height] (ultralytics clips to w, not w - 1)."""
    array = as_boxes(boxes).copy()
    height, width = image_hw
    np.clip(array[:, 0::2], 0, width, out=array[:, 0::2])
    np.clip(array[:, 1::2], 0, height, out=array[:, 1::2])
    return array


def paired_iou(boxes1: NDArray[np.float32], boxes2: NDArray[np.float32]) -> NDArray[np.float32]:
    """IoU of boxes that broadcast against each other (shape (..., 4)); 0 where the union is 0.

    Computed in float32 like torchvision, so threshold decisions agree with it.
    """
    left_top = np.maximum(boxes1[..., :2], boxes2[..., :2])
    right_bottom = np.minimum(boxes1[..., 2:], boxes2[..., 2:])
    overlap = np.clip(right_bottom - left_top, 0, None)
    inter = overlap[..., 0] * overlap[..., 1]
    area1 = (boxes1[..., 2] - boxes1[..., 0]) * (boxes1[..., 3] - boxes1[..., 1])
    area2 = (boxes2[..., 2] - boxes2[..., 0]) * (boxes2[..., 3] - boxes2[..., 1])
    union = area1 + area2 - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / union, np.float32(0))
    return iou.astype(np.float32, copy=False)


def box_iou(boxes1: ArrayLike, boxes2: ArrayLike) -> NDArray[np.float32]:
    """Pairwise IoU of xyxy boxes: (N, 4) x (M, 4) -> (N, M)."""
    a, b = as_boxes(boxes1), as_boxes(boxes2)
    return paired_iou(a[:, None, :], b[None, :, :])
