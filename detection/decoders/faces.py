"""Decoders of the face detectors: YuNet, SCRFD, RetinaFace, UltraFace and CenterFace.

Each takes the model's raw outputs (in any order: tensors are told apart by shape, see
``face_tensors``) and returns one :class:`Candidates` per batch image with boxes (N, 4) xyxy and
keypoints (N, 5, 2) in network-input pixels and the face score as a single class column (N, 1).
Landmark order is the models' own: eye image-left, eye image-right, nose, mouth image-left,
mouth image-right. Formulas follow the reference implementations (OpenCV FaceDetectorYN,
insightface SCRFD, biubug6 RetinaFace, Linzaer UltraFace, Star-Clouds CenterFace).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from detection.candidates import Candidates, LayoutParams
from detection.decoders.face_priors import anchor_points, grid_hw, retinaface_priors
from detection.decoders.face_tensors import (
    Float32Array,
    as_rows,
    check_input_hw,
    check_strides,
    group_by_stride,
    per_image,
    pick_by_last_dim,
    shapes,
)
from detection.errors import LayoutError

__all__ = [
    "decode_centerface",
    "decode_retinaface",
    "decode_scrfd",
    "decode_ultraface",
    "decode_yunet",
]

NUM_LANDMARKS = 5
# biubug6 RetinaFace min_sizes for steps 8 / 16 / 32, as (w, h) pairs in input pixels.
RETINAFACE_SIZES: tuple[tuple[tuple[float, float], ...], ...] = (
    ((16.0, 16.0), (32.0, 32.0)),
    ((64.0, 64.0), (128.0, 128.0)),
    ((256.0, 256.0), (512.0, 512.0)),
)
RETINAFACE_VARIANCES = (0.1, 0.2)
CENTERFACE_STRIDE = 4
# insightface SCRFD: 2 anchors a cell with 3 strides (8/16/32), 1 with 5 (8 ... 128).
SCRFD_ANCHORS_PER_CELL = {3: 2, 5: 1}


def _landmarks(flat: Float32Array) -> Float32Array:
    """(B, N, 10) -> (B, N, 5, 2)."""
    return flat.reshape(*flat.shape[:-1], NUM_LANDMARKS, 2)


def _face_probability(conf: Float32Array) -> Float32Array:
    """Column 1 of a (B, N, 2) two-class softmax, applying the softmax only if it is missing.

    The known exports (RetinaFace, UltraFace) already end in a softmax; an export cut before it
    gives logits, recognised by rows that are not probabilities summing to 1. For two classes
    softmax column 1 equals sigmoid(logit1 - logit0).
    """
    is_probability = bool(np.all((conf >= 0) & (conf <= 1))) and bool(
        np.allclose(conf.sum(axis=-1), 1.0, atol=1e-2)
    )
    background: Float32Array = conf[..., 0]
    face: Float32Array = conf[..., 1]
    if is_probability:
        return face
    margin: Float32Array = background - face
    return (1.0 / (1.0 + np.exp(margin))).astype(np.float32)


def decode_yunet(outputs: Sequence[NDArray[Any]], params: LayoutParams) -> list[Candidates]:
    """YuNet: per stride cls (B,N,1), obj (B,N,1), bbox (B,N,4), kps (B,N,10), 1 point a cell.

    score = sqrt(clip(cls) * clip(obj)) (symmetric, so cls and obj need not be told apart);
    centre = (cell + bbox[:2]) * s, size = exp(bbox[2:]) * s, landmark = (cell + kps) * s.
    """
    input_hw = check_input_hw("yunet", params)
    arrays = as_rows("yunet", outputs)
    heads = group_by_stride("yunet", arrays, params, {1: 2, 4: 1, 10: 1}, per_cell=1)
    boxes, scores, keypoints = [], [], []
    for head in heads:
        s = head.stride
        cls, obj = head.by_dim[1]
        bbox, kps = head.by_dim[4][0], head.by_dim[10][0]
        points = anchor_points(input_hw, s, 1)
        centre = points + bbox[..., :2] * s
        half = np.exp(bbox[..., 2:]) * (s / 2)
        boxes.append(np.concatenate((centre - half, centre + half), axis=-1))
        scores.append(np.sqrt(np.clip(cls, 0, 1) * np.clip(obj, 0, 1)))
        keypoints.append(points[:, None, :] + _landmarks(kps) * s)
    return per_image(
        np.concatenate(boxes, axis=1),
        np.concatenate(scores, axis=1),
        np.concatenate(keypoints, axis=1),
    )


def decode_scrfd(outputs: Sequence[NDArray[Any]], params: LayoutParams) -> list[Candidates]:
    """SCRFD: per stride score (N,1), bbox (N,4), optional kps (N,10); batch axis optional.

    Scores are already sigmoid. Anchor centres (col * s, row * s), each repeated per anchor
    (``SCRFD_ANCHORS_PER_CELL``: insightface decides it from the stride count). bbox = (left,
    top, right, bottom) distances * s from the centre; landmark = centre + kps * s. Exports
    without keypoints (2 outputs a stride) give ``keypoints=None``.
    """
    input_hw = check_input_hw("scrfd", params)
    arrays = as_rows("scrfd", outputs)
    with_kps = len(arrays) != 2 * len(params.strides)
    dims = {1: 1, 4: 1, 10: 1} if with_kps else {1: 1, 4: 1}
    per_cell = SCRFD_ANCHORS_PER_CELL.get(len(params.strides), 1)
    heads = group_by_stride("scrfd", arrays, params, dims, per_cell)
    boxes, scores, keypoints = [], [], []
    for head in heads:
        s = head.stride
        centres = anchor_points(input_hw, s, per_cell)
        distance = head.by_dim[4][0] * s
        boxes.append(np.concatenate((centres - distance[..., :2], centres + distance[..., 2:]), -1))
        scores.append(head.by_dim[1][0])
        if with_kps:
            keypoints.append(centres[:, None, :] + _landmarks(head.by_dim[10][0]) * s)
    return per_image(
        np.concatenate(boxes, axis=1),
        np.concatenate(scores, axis=1),
        np.concatenate(keypoints, axis=1) if with_kps else None,
    )


def _retinaface_sizes(params: LayoutParams) -> tuple[tuple[tuple[float, float], ...], ...]:
    """Prior sizes per stride: params.anchors when given, else biubug6's min_sizes."""
    sizes = params.anchors or RETINAFACE_SIZES
    if len(sizes) != len(params.strides) or not all(sizes):
        raise LayoutError(
            f"retinaface: need a non-empty list of prior sizes for each of strides "
            f"{params.strides}, got {sizes}"
        )
    return tuple(tuple((float(w), float(h)) for w, h in per_stride) for per_stride in sizes)


def decode_retinaface(outputs: Sequence[NDArray[Any]], params: LayoutParams) -> list[Candidates]:
    """RetinaFace: loc (B,N,4), conf (B,N,2), landms (B,N,10) against fixed priors.

    centre = prior_c + loc[:2] * 0.1 * prior_wh, size = prior_wh * exp(loc[2:] * 0.2),
    landmark = prior_c + landm * 0.1 * prior_wh (priors in input pixels, so no x640 step).
    """
    input_hw = check_input_hw("retinaface", params)
    arrays = as_rows("retinaface", outputs)
    loc, conf, landms = pick_by_last_dim("retinaface", arrays, (4, 2, 10), "loc, conf, landms")
    strides = check_strides("retinaface", params)
    priors = retinaface_priors(input_hw, strides, _retinaface_sizes(params))
    if loc.shape[1] != len(priors):
        raise LayoutError(
            f"retinaface: {loc.shape[1]} rows but input {input_hw[0]}x{input_hw[1]} with "
            f"strides {params.strides} gives {len(priors)} priors; shapes: {shapes(outputs)}"
        )
    centre_var, size_var = RETINAFACE_VARIANCES
    prior_c, prior_wh = priors[:, :2], priors[:, 2:]
    centre = prior_c + loc[..., :2] * centre_var * prior_wh
    half = prior_wh * np.exp(loc[..., 2:] * size_var) / 2
    keypoints = prior_c[:, None, :] + _landmarks(landms) * centre_var * prior_wh[:, None, :]
    boxes = np.concatenate((centre - half, centre + half), axis=-1)
    return per_image(boxes, _face_probability(conf), keypoints)


def decode_ultraface(outputs: Sequence[NDArray[Any]], params: LayoutParams) -> list[Candidates]:
    """UltraFace: scores (B,N,2) and boxes (B,N,4) xyxy already decoded, normalised to 0..1.

    Normalised to the (stretched) network input, so scaled by its width and height. No landmarks.
    """
    height, width = check_input_hw("ultraface", params)
    arrays = as_rows("ultraface", outputs)
    conf, boxes = pick_by_last_dim("ultraface", arrays, (2, 4), "scores, boxes")
    scale = np.array((width, height, width, height), dtype=np.float32)
    return per_image(boxes * scale, _face_probability(conf), None)


def decode_centerface(outputs: Sequence[NDArray[Any]], params: LayoutParams) -> list[Candidates]:
    """CenterFace: NCHW stride-4 maps heat (1 ch), scale (2), offset (2), landmarks (10).

    Heat, scale and landmarks are told apart by channel count; scale and offset share a shape,
    so they are taken in output order (scale first, as exported). Every cell is a candidate,
    its heat the score: h, w = exp(scale) * 4; x1 = (col + dx + 0.5) * 4 - w/2 (y alike);
    landmark k = (x1 + lm[2k+1] * w, y1 + lm[2k] * h). Offsets and landmarks are (y, x) pairs.
    """
    height, width = check_input_hw("centerface", params)
    maps = [np.asarray(o, dtype=np.float32) for o in outputs]
    channels = [m.shape[1] if m.ndim == 4 else None for m in maps]
    if sorted(c or 0 for c in channels) != [1, 2, 2, 10]:
        raise LayoutError(
            "centerface: expected 4 NCHW outputs with 1 (heat), 2 (scale), 2 (offset) and "
            f"10 (landmarks) channels, got shapes {shapes(outputs)}"
        )
    rows, cols = grid_hw((height, width), CENTERFACE_STRIDE)
    if any(m.shape[0] != maps[0].shape[0] or m.shape[2:] != (rows, cols) for m in maps):
        raise LayoutError(
            f"centerface: input {height}x{width} needs maps of {rows}x{cols} (stride "
            f"{CENTERFACE_STRIDE}) and one batch size, got shapes {shapes(outputs)}"
        )
    heat = maps[channels.index(1)]
    scale, offset = (m for m, c in zip(maps, channels, strict=True) if c == 2)
    marks = maps[channels.index(10)]

    def cells_last(m: Float32Array) -> Float32Array:
        """(B, C, h, w) -> (B, h*w, C), cells row-major like anchor_points."""
        return m.reshape(m.shape[0], m.shape[1], -1).transpose(0, 2, 1)

    size_wh = np.exp(cells_last(scale)[..., ::-1]) * CENTERFACE_STRIDE
    offset_xy = cells_last(offset)[..., ::-1]
    points = anchor_points((height, width), CENTERFACE_STRIDE, 1)
    top_left = points + (offset_xy + 0.5) * CENTERFACE_STRIDE - size_wh / 2
    keypoints = (
        top_left[..., None, :] + _landmarks(cells_last(marks))[..., ::-1] * size_wh[..., None, :]
    )
    boxes = np.concatenate((top_left, top_left + size_wh), axis=-1)
    return per_image(boxes, cells_last(heat), keypoints)
