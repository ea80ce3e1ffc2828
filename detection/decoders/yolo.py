"""Decoders for the YOLO family's output layouts (DESIGN §4), vectorised, no per-anchor loops.

Each takes the model's outputs and the :class:`LayoutParams`, and returns one
:class:`Candidates` per batch image with xyxy boxes in network-input pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from detection.boxes import box_convert
from detection.candidates import Candidates, LayoutParams
from detection.errors import LayoutError

Outputs = Sequence[NDArray[Any]]
Float32Array = NDArray[np.float32]


def _single(outputs: Outputs, layout: str, rank: int) -> Float32Array:
    """The one output tensor a layout expects, as float32 (float16 exports included)."""
    if len(outputs) != 1:
        raise LayoutError(f"{layout}: expected 1 output, got {len(outputs)}")
    tensor = np.asarray(outputs[0])
    if tensor.ndim != rank:
        raise LayoutError(f"{layout}: expected a rank-{rank} output, got shape {tensor.shape}")
    return tensor.astype(np.float32, copy=False)


def _sigmoid(values: Float32Array) -> Float32Array:
    one = np.float32(1)
    result: Float32Array = one / (one + np.exp(-values))
    return result


def _softmax(values: Float32Array) -> Float32Array:
    shifted = np.exp(values - values.max(axis=-1, keepdims=True))
    result: Float32Array = shifted / shifted.sum(axis=-1, keepdims=True)
    return result


def _xyxy(cxcywh: Float32Array) -> Float32Array:
    return box_convert(cxcywh, "cxcywh", "xyxy")


def decode_yolov8(outputs: Outputs, params: LayoutParams) -> list[Candidates]:
    """``[B, 4 + nc (+ 3K), N]``: cxcywh in input pixels, sigmoid class scores, no objectness.

    Ultralytics v8/v9/v11 and v5u. With ``num_keypoints`` K, the channels after the classes
    are K x (x, y, visibility) (pose); other extra channels (e.g. mask coefficients) are ignored.
    """
    output = _single(outputs, "yolov8", rank=3)
    channels, count = output.shape[1], output.shape[2]
    keypoints = params.num_keypoints
    classes = params.num_classes or channels - 4 - 3 * keypoints
    if classes <= 0 or 4 + classes + 3 * keypoints > channels:
        raise LayoutError(
            f"yolov8: {channels} channels cannot hold 4 box values, {classes} classes and "
            f"{keypoints} keypoints x 3 (output shape {output.shape})"
        )
    decoded = []
    for image in output:
        boxes = _xyxy(image[:4].T)
        scores = image[4 : 4 + classes].T
        points = point_scores = None
        if keypoints:
            triples = image[4 + classes : 4 + classes + 3 * keypoints].T.reshape(
                count, keypoints, 3
            )
            points = np.ascontiguousarray(triples[..., :2])
            point_scores = np.ascontiguousarray(triples[..., 2])
        decoded.append(
            Candidates(boxes, class_scores=scores, keypoints=points, keypoint_scores=point_scores)
        )
    return decoded


def _objectness_rows(output: Float32Array, layout: str, params: LayoutParams) -> int:
    """Class count of ``[B, N, 5 + nc]`` rows, checked against ``num_classes`` when given."""
    classes = int(output.shape[2]) - 5
    if classes <= 0 or (params.num_classes is not None and params.num_classes != classes):
        raise LayoutError(
            f"{layout}: rows of {output.shape[2]} values do not hold 5 + "
            f"{params.num_classes if params.num_classes is not None else 'nc'} (shape {output.shape})"
        )
    return classes


def decode_yolov5(outputs: Outputs, params: LayoutParams) -> list[Candidates]:
    """``[B, N, 5 + nc]``: decoded cxcywh, objectness and class probabilities (score = obj x cls)."""
    output = _single(outputs, "yolov5", rank=3)
    _objectness_rows(output, "yolov5", params)
    return [
        Candidates(_xyxy(image[:, :4]), class_scores=image[:, 5:] * image[:, 4:5])
        for image in output
    ]


@lru_cache(maxsize=64)
def _grids(
    input_hw: tuple[int, int], strides: tuple[int, ...]
) -> tuple[Float32Array, Float32Array]:
    """Cell (col, row) and stride of every anchor point, strides in order, rows row-major."""
    cells, scales = [], []
    for stride in strides:
        rows, cols = -(-input_hw[0] // stride), -(-input_hw[1] // stride)
        row, col = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        cells.append(np.stack([col.ravel(), row.ravel()], axis=1))
        scales.append(np.full((rows * cols, 1), stride))
    grid = np.concatenate(cells).astype(np.float32)
    scale = np.concatenate(scales).astype(np.float32)
    grid.flags.writeable = scale.flags.writeable = False
    return grid, scale


def decode_yolox(outputs: Outputs, params: LayoutParams) -> list[Candidates]:
    """``[B, N, 5 + nc]`` raw grid offsets: xy = (p + cell) x s, wh = exp(p) x s; score = obj x cls.

    N must be the anchor points of ``params.strides`` over ``params.input_hw``.
    """
    output = _single(outputs, "yolox", rank=3)
    _objectness_rows(output, "yolox", params)
    grid, scale = _grids(params.input_hw, params.strides)
    if output.shape[1] != len(grid):
        raise LayoutError(
            f"yolox: {output.shape[1]} rows, but strides {params.strides} over an input of "
            f"{params.input_hw} give {len(grid)} grid cells"
        )
    decoded = []
    for image in output:
        centres = (image[:, :2] + grid) * scale
        sizes = np.exp(image[:, 2:4]) * scale
        boxes = _xyxy(np.concatenate([centres, sizes], axis=1))
        decoded.append(Candidates(boxes, class_scores=image[:, 5:] * image[:, 4:5]))
    return decoded


def _anchor_head(
    head: Float32Array, anchors: Sequence[tuple[float, float]], layout: str, params: LayoutParams
) -> Float32Array:
    """One raw head as (B, H, W, A, 5 + nc), from NHWC, NCHW or (B, A, H, W, 5 + nc)."""
    count = len(anchors)
    if count == 0:
        raise LayoutError(f"{layout}: anchors are required (set [output] anchors in model.toml)")
    if head.ndim == 5:
        if head.shape[1] != count:
            raise LayoutError(
                f"{layout}: head {head.shape} does not have {count} anchors on axis 1"
            )
        return head.transpose(0, 2, 3, 1, 4)
    if head.ndim != 4:
        raise LayoutError(f"{layout}: expected a rank-4 or rank-5 head, got shape {head.shape}")

    def fits(channels: int) -> bool:
        per_anchor = channels / count
        return (
            per_anchor.is_integer()
            and per_anchor > 5
            and (params.num_classes is None or per_anchor == 5 + params.num_classes)
        )

    channels_last, channels_first = fits(head.shape[3]), fits(head.shape[1])
    if channels_last == channels_first:
        raise LayoutError(
            f"{layout}: cannot tell whether head {head.shape} is NHWC or NCHW for {count} anchors"
            f" and {params.num_classes or 'unknown'} classes; both or neither axis fits"
        )
    if channels_first:
        head = head.transpose(0, 2, 3, 1)
    batch, rows, cols, channels = head.shape
    return head.reshape(batch, rows, cols, count, channels // count)


def _decode_anchor_heads(
    heads: Sequence[Float32Array],
    anchor_sets: Sequence[Sequence[tuple[float, float]]],
    layout: str,
    params: LayoutParams,
    *,
    softmax_classes: bool,
) -> list[Candidates]:
    """Classic anchor-based heads: xy = (sigmoid + cell) x stride, wh = exp x anchor."""
    per_head = []
    for head, anchors in zip(heads, anchor_sets, strict=True):
        cells = _anchor_head(head, anchors, layout, params)
        batch, rows, cols = cells.shape[:3]
        stride_y, stride_x = params.input_hw[0] / rows, params.input_hw[1] / cols
        row, col = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        centre_x = (_sigmoid(cells[..., 0]) + col[None, :, :, None]) * stride_x
        centre_y = (_sigmoid(cells[..., 1]) + row[None, :, :, None]) * stride_y
        anchor = np.asarray(anchors, dtype=np.float32)
        width = np.exp(cells[..., 2]) * anchor[:, 0]
        height = np.exp(cells[..., 3]) * anchor[:, 1]
        probabilities = _softmax(cells[..., 5:]) if softmax_classes else _sigmoid(cells[..., 5:])
        scores = _sigmoid(cells[..., 4:5]) * probabilities
        boxes = np.stack([centre_x, centre_y, width, height], axis=-1)
        per_head.append((boxes.reshape(batch, -1, 4), scores.reshape(batch, -1, scores.shape[-1])))
    decoded = []
    for index in range(per_head[0][0].shape[0]):
        boxes = np.concatenate([head[0][index] for head in per_head]).astype(np.float32)
        scores = np.concatenate([head[1][index] for head in per_head]).astype(np.float32)
        decoded.append(Candidates(_xyxy(boxes), class_scores=scores))
    return decoded


def decode_yolov2(outputs: Outputs, params: LayoutParams) -> list[Candidates]:
    """One grid ``[B, S, S, A x (5 + nc)]`` (or NCHW): sigmoid xy, exp wh x anchor, softmax classes.

    Anchors are (w, h) in input pixels (YOLOv2 cfg files give them in cells: multiply by 32).
    """
    head = _single(outputs, "yolov2", rank=4)
    anchors = params.anchors[0] if params.anchors else ()
    return _decode_anchor_heads([head], [anchors], "yolov2", params, softmax_classes=True)


def decode_yolov3(outputs: Outputs, params: LayoutParams) -> list[Candidates]:
    """One raw head per stride, ``[B, A x (5 + nc), H, W]`` or ``[B, A, H, W, 5 + nc]``.

    ``params.anchors[i]`` belongs to ``outputs[i]``; each head's stride is input size / grid.
    """
    if len(params.anchors) != len(outputs):
        raise LayoutError(
            f"yolov3: {len(outputs)} heads but {len(params.anchors)} anchor sets; give one "
            "[output] anchors list per head, in output order"
        )
    heads = [np.asarray(output).astype(np.float32, copy=False) for output in outputs]
    return _decode_anchor_heads(heads, params.anchors, "yolov3", params, softmax_classes=False)


def decode_end2end(outputs: Outputs, params: LayoutParams) -> list[Candidates]:
    """``[B, K, 6]`` x1 y1 x2 y2 score class, already selected by the model (NMS-free / nms=True)."""
    output = _single(outputs, "end2end", rank=3)
    if output.shape[2] != 6:
        raise LayoutError(f"end2end: rows must be x1 y1 x2 y2 score class, got {output.shape}")
    return [
        Candidates(
            np.ascontiguousarray(image[:, :4]),
            confidence=np.ascontiguousarray(image[:, 4]),
            class_id=image[:, 5].astype(np.int64),
        )
        for image in output
    ]
