"""Decoders for the YOLO family's output layouts, vectorised, no per-anchor loops.

The layouts are listed in docs/ARCHITECTURE.md, 'Model repository format'. Each decoder takes
the model's outputs and the :class:`LayoutParams`, and returns one :class:`Candidates` per
batch image with xyxy float32 boxes in network-input pixels. Outputs may be float16
(half-precision exports); they are decoded in float32. Grids depend only on shapes, never on
the image, so they are built once per shape and cached read-only.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from detection.boxes import box_convert
from detection.candidates import Candidates, LayoutParams
from detection.decoders.face_priors import grid_hw
from detection.errors import LayoutError

Outputs = Sequence[NDArray[Any]]
Float32Array = NDArray[np.float32]
Anchors = Sequence[tuple[float, float]]

__all__ = [
    "decode_end2end",
    "decode_yolov2",
    "decode_yolov3",
    "decode_yolov5",
    "decode_yolov8",
    "decode_yolox",
    "grid_cell_count",
]


def _single(outputs: Outputs, layout: str, rank: int) -> Float32Array:
    """The one output tensor a layout expects, as float32 (float16 exports included)."""
    if len(outputs) != 1:
        raise LayoutError(f"{layout}: expected 1 output, got {len(outputs)}")
    tensor = np.asarray(outputs[0])
    if tensor.ndim != rank:
        raise LayoutError(f"{layout}: expected a rank-{rank} output, got shape {tensor.shape}")
    return tensor.astype(np.float32, copy=False)


def _sigmoid(values: Float32Array) -> Float32Array:
    """Logistic function; exp overflows to inf for very negative logits, giving the exact 0."""
    one = np.float32(1)
    with np.errstate(over="ignore"):
        result: Float32Array = one / (one + np.exp(-values))
    return result


def _softmax(values: Float32Array) -> Float32Array:
    shifted = np.exp(values - values.max(axis=-1, keepdims=True))
    result: Float32Array = shifted / shifted.sum(axis=-1, keepdims=True)
    return result


def _xyxy(cxcywh: Float32Array) -> Float32Array:
    """(..., 4) centre boxes to corners, any leading shape (box_convert takes (N, 4))."""
    flat = box_convert(cxcywh.reshape(-1, 4), "cxcywh", "xyxy")
    return flat.reshape(cxcywh.shape)


def _checked_classes(
    columns: int, layout: str, params: LayoutParams, shape: tuple[int, ...]
) -> int:
    """Class count of rows of ``5 + nc`` values, checked against ``num_classes`` when given."""
    classes = columns - 5
    if classes <= 0 or (params.num_classes is not None and params.num_classes != classes):
        expected = params.num_classes if params.num_classes is not None else "nc >= 1"
        raise LayoutError(
            f"{layout}: rows of {columns} values do not hold 4 box values, objectness and "
            f"{expected} classes (output shape {shape})"
        )
    return classes


def decode_yolov8(outputs: Outputs, params: LayoutParams) -> list[Candidates]:
    """``[B, 4 + nc (+ 3K), N]``: cxcywh in input pixels, sigmoid class scores, no objectness.

    Ultralytics v8/v9/v11 and v5u. nc is ``num_classes`` when given, else the channels left
    after the box and keypoints. With ``num_keypoints`` K, the K x (x, y, visibility) channels
    follow the classes (pose, already decoded to input pixels and sigmoid visibility); any
    further channels (e.g. segmentation mask coefficients) are ignored.
    """
    output = _single(outputs, "yolov8", rank=3)
    batch, channels, count = output.shape
    keypoints = params.num_keypoints
    classes = params.num_classes if params.num_classes is not None else channels - 4 - 3 * keypoints
    if classes <= 0 or 4 + classes + 3 * keypoints > channels:
        raise LayoutError(
            f"yolov8: {channels} channels cannot hold 4 box values, {classes} classes and "
            f"{keypoints} keypoints x 3 (output shape {output.shape})"
        )
    rows = output.transpose(0, 2, 1)  # (B, N, C) view: one row per anchor point
    boxes = _xyxy(rows[..., :4])
    scores = rows[..., 4 : 4 + classes]
    if not keypoints:
        return [Candidates(boxes[b], class_scores=scores[b]) for b in range(batch)]
    triples = rows[..., 4 + classes : 4 + classes + 3 * keypoints].reshape(
        batch, count, keypoints, 3
    )
    points = np.ascontiguousarray(triples[..., :2])
    visibility = np.ascontiguousarray(triples[..., 2])
    return [
        Candidates(
            boxes[b], class_scores=scores[b], keypoints=points[b], keypoint_scores=visibility[b]
        )
        for b in range(batch)
    ]


def decode_yolov5(outputs: Outputs, params: LayoutParams) -> list[Candidates]:
    """``[B, N, 5 + nc]``: decoded cxcywh, objectness, class probabilities; score = obj x cls.

    The YOLOv5 repository's export (also YOLOv7-style exports without NMS): the graph already
    applied sigmoid, grid and anchors. float16 outputs (``--half``) are decoded in float32.
    """
    output = _single(outputs, "yolov5", rank=3)
    _checked_classes(output.shape[2], "yolov5", params, output.shape)
    candidates = []
    for image in output:
        rows = image[_rows_with_objectness(image, params.score_floor)]
        scores = rows[:, 5:] * rows[:, 4:5]
        candidates.append(Candidates(_xyxy(rows[:, :4]), class_scores=scores))
    return candidates


def _rows_with_objectness(rows: Float32Array, floor: float) -> slice | NDArray[np.intp]:
    """The rows of an (N, 5 + nc) objectness layout that can score above ``floor``: a score is
    objectness x a class probability in [0, 1] (checked; otherwise every row), so it is never
    above the objectness, and a row whose objectness is under ``floor`` changes no answer.
    YOLOv5's own NMS filters on objectness first too; here it saves scoring every row."""
    classes = rows[:, 5:]
    if floor <= 0 or not (classes.min(initial=0.0) >= 0 and classes.max(initial=0.0) <= 1):
        return slice(None)
    return np.flatnonzero(rows[:, 4] >= floor)


def grid_cell_count(input_hw: tuple[int, int], strides: Sequence[int]) -> int:
    """Anchor points of a one-point-per-cell head: sum of ceil(H/s) * ceil(W/s) over strides."""
    return sum(int(np.prod(grid_hw(input_hw, stride))) for stride in strides)


@lru_cache(maxsize=64)
def _yolox_grid(
    input_hw: tuple[int, int], strides: tuple[int, ...]
) -> tuple[Float32Array, Float32Array]:
    """(col, row) cell and stride of every anchor point: strides in order, cells row-major."""
    cells, scales = [], []
    for stride in strides:
        rows, cols = grid_hw(input_hw, stride)
        row, col = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        cells.append(np.stack([col.ravel(), row.ravel()], axis=1))
        scales.append(np.full((rows * cols, 1), stride))
    grid = np.concatenate(cells).astype(np.float32)
    scale = np.concatenate(scales).astype(np.float32)
    grid.setflags(write=False)
    scale.setflags(write=False)
    return grid, scale


def decode_yolox(outputs: Outputs, params: LayoutParams) -> list[Candidates]:
    """``[B, N, 5 + nc]`` raw grid offsets: xy = (p + cell) x s, wh = exp(p) x s; score = obj x cls.

    Megvii's export (``decode_in_inference=False``): objectness and class scores are already
    sigmoid, the boxes are not decoded. N must be the cells of ``params.strides`` over
    ``params.input_hw``, strides in order and each stride's cells row-major (y, then x).
    """
    output = _single(outputs, "yolox", rank=3)
    _checked_classes(output.shape[2], "yolox", params, output.shape)
    strides = tuple(int(s) for s in params.strides)
    if not strides or min(strides) <= 0:
        raise LayoutError(f"yolox: strides must be positive, got {params.strides}")
    height, width = params.input_hw
    grid, scale = _yolox_grid((int(height), int(width)), strides)
    if output.shape[1] != len(grid):
        raise LayoutError(
            f"yolox: the output has {output.shape[1]} rows, but strides {strides} over an input "
            f"of {params.input_hw[0]}x{params.input_hw[1]} give {len(grid)} grid cells; "
            "check [input] size and [output] strides"
        )
    candidates = []
    for image in output:
        kept = _rows_with_objectness(image, params.score_floor)
        rows, cells, strides_of = image[kept], grid[kept], scale[kept]
        centres = (rows[:, :2] + cells) * strides_of
        sizes = np.exp(rows[:, 2:4]) * strides_of
        boxes = _xyxy(np.concatenate([centres, sizes], axis=-1))
        candidates.append(Candidates(boxes, class_scores=rows[:, 5:] * rows[:, 4:5]))
    return candidates


@lru_cache(maxsize=64)
def _cells(rows: int, cols: int) -> tuple[Float32Array, Float32Array]:
    """Column and row index of every cell, shaped (rows, cols, 1) to broadcast over anchors."""
    row, col = np.meshgrid(
        np.arange(rows, dtype=np.float32), np.arange(cols, dtype=np.float32), indexing="ij"
    )
    col, row = col[..., None], row[..., None]
    col.setflags(write=False)
    row.setflags(write=False)
    return col, row


def _anchor_head(
    head: Float32Array, anchors: Anchors, layout: str, params: LayoutParams
) -> Float32Array:
    """One raw head as (B, H, W, A, 5 + nc), from NHWC, NCHW or (B, A, H, W, 5 + nc).

    A rank-4 head is NHWC or NCHW depending on which axis holds A x (5 + nc) values; when both
    or neither could, it is refused rather than guessed.
    """
    count = len(anchors)
    if count == 0:
        raise LayoutError(
            f"{layout}: anchors are required, (w, h) in input pixels for each head "
            "(set [output] anchors in model.toml)"
        )

    def fits(values: int, per: int) -> bool:
        per_anchor = values / per
        return (
            per_anchor.is_integer()
            and per_anchor > 5
            and (params.num_classes is None or per_anchor == 5 + params.num_classes)
        )

    if head.ndim == 5:
        if head.shape[1] != count or not fits(head.shape[4], 1):
            raise LayoutError(
                f"{layout}: head {head.shape} is not (B, {count} anchors, H, W, 5 + "
                f"{params.num_classes if params.num_classes is not None else 'nc'})"
            )
        return head.transpose(0, 2, 3, 1, 4)
    if head.ndim != 4:
        raise LayoutError(f"{layout}: expected a rank-4 or rank-5 head, got shape {head.shape}")
    channels_last, channels_first = fits(head.shape[3], count), fits(head.shape[1], count)
    if channels_last == channels_first:
        raise LayoutError(
            f"{layout}: cannot tell whether head {head.shape} is NHWC or NCHW for {count} "
            f"anchors and {params.num_classes or 'unknown'} classes: "
            f"{'both axes fit' if channels_last else 'neither axis 1 nor 3 fits'}"
        )
    if channels_first:
        head = head.transpose(0, 2, 3, 1)
    batch, rows, cols, channels = head.shape
    return head.reshape(batch, rows, cols, count, channels // count)


def _decode_anchor_heads(
    heads: Sequence[Float32Array],
    anchor_sets: Sequence[Anchors],
    layout: str,
    params: LayoutParams,
    *,
    softmax_classes: bool,
) -> list[Candidates]:
    """Classic anchor-based heads: xy = (sigmoid + cell) x stride, wh = exp x anchor.

    A head's stride is the input size over its grid size (per axis), as darknet normalises by
    the grid: this needs no stride list and takes the heads in any order.
    """
    cells = [
        _anchor_head(head, anchors, layout, params)
        for head, anchors in zip(heads, anchor_sets, strict=True)
    ]
    if len({c.shape[0] for c in cells}) > 1 or len({c.shape[4] for c in cells}) > 1:
        described = ", ".join(str(head.shape) for head in heads)
        raise LayoutError(f"{layout}: heads disagree on batch size or class count: {described}")
    all_boxes, all_scores = [], []
    for head, anchors in zip(cells, anchor_sets, strict=True):
        batch, rows, cols = head.shape[:3]
        col, row = _cells(rows, cols)
        stride_y = np.float32(params.input_hw[0] / rows)
        stride_x = np.float32(params.input_hw[1] / cols)
        size = np.asarray(anchors, dtype=np.float32)
        with np.errstate(over="ignore"):
            boxes = np.stack(
                [
                    (_sigmoid(head[..., 0]) + col) * stride_x,
                    (_sigmoid(head[..., 1]) + row) * stride_y,
                    np.exp(head[..., 2]) * size[:, 0],
                    np.exp(head[..., 3]) * size[:, 1],
                ],
                axis=-1,
            )
        classes = _softmax(head[..., 5:]) if softmax_classes else _sigmoid(head[..., 5:])
        scores = _sigmoid(head[..., 4:5]) * classes
        all_boxes.append(boxes.reshape(batch, -1, 4))
        all_scores.append(scores.reshape(batch, -1, scores.shape[-1]))
    boxes = _xyxy(np.concatenate(all_boxes, axis=1).astype(np.float32, copy=False))
    scores = np.concatenate(all_scores, axis=1).astype(np.float32, copy=False)
    return [Candidates(boxes[b], class_scores=scores[b]) for b in range(boxes.shape[0])]


def decode_yolov2(outputs: Outputs, params: LayoutParams) -> list[Candidates]:
    """One grid ``[B, S, S, A x (5 + nc)]`` (or NCHW): sigmoid xy, exp wh x anchor, softmax classes.

    score = sigmoid(obj) x softmax(classes). Anchors are ``params.anchors[0]``, (w, h) in
    **input pixels**: darknet's yolov2 cfg files give them in grid cells, so multiply those by
    the stride (32) first. Rows are cells row-major, each cell's anchors together.
    """
    head = _single(outputs, "yolov2", rank=4)
    anchors = params.anchors[0] if params.anchors else ()
    return _decode_anchor_heads([head], [anchors], "yolov2", params, softmax_classes=True)


def decode_yolov3(outputs: Outputs, params: LayoutParams) -> list[Candidates]:
    """One raw head per stride, ``[B, A x (5 + nc), H, W]`` (or NHWC) or ``[B, A, H, W, 5 + nc]``.

    ``params.anchors[i]`` ((w, h) in input pixels) belongs to ``outputs[i]``; classes and
    objectness are sigmoid (YOLOv3, and YOLOv4/v5 raw heads decoded the v3 way). Candidates
    follow the heads' order, each head's cells row-major with each cell's anchors together.
    """
    if not outputs or len(params.anchors) != len(outputs):
        raise LayoutError(
            f"yolov3: {len(outputs)} heads but {len(params.anchors)} anchor sets; give one "
            "[output] anchors list per head, in output order"
        )
    heads = [np.asarray(output).astype(np.float32, copy=False) for output in outputs]
    return _decode_anchor_heads(heads, params.anchors, "yolov3", params, softmax_classes=False)


def decode_end2end(outputs: Outputs, params: LayoutParams) -> list[Candidates]:
    """``[B, K, 6]`` x1 y1 x2 y2 score class, already selected by the model (NMS-free / nms=True).

    Rows stay in the model's order, zero padding included: the confidence filter drops it.
    """
    output = _single(outputs, "end2end", rank=3)
    if output.shape[2] != 6:
        raise LayoutError(f"end2end: rows must be x1 y1 x2 y2 score class, got {output.shape}")
    boxes = np.ascontiguousarray(output[..., :4])
    confidence = np.ascontiguousarray(output[..., 4])
    class_id = np.rint(output[..., 5]).astype(np.int64)
    return [
        Candidates(boxes[b], confidence=confidence[b], class_id=class_id[b])
        for b in range(output.shape[0])
    ]
