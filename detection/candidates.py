"""What every decoder returns: one image's predictions in network-input pixels, before NMS."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Float32Array = NDArray[np.float32]
Int64Array = NDArray[np.int64]

#: The strides of the usual three FPN levels (P3-P5), where neither model.toml nor metadata say.
DEFAULT_STRIDES = (8, 16, 32)


@dataclass(frozen=True)
class Candidates:
    """Decoded predictions of one image, not yet filtered.

    Either ``class_scores`` (N, C) is set (layouts that need NMS), or ``confidence`` (N,) and
    ``class_id`` (N,) are (NMS-free ``end2end`` rows, already final and sorted by the model).
    Keypoints are (N, K, 2) in input pixels; ``keypoint_scores`` (N, K) where the model gives them.
    Segmentation heads add (N, nm) ``mask_coefficients`` and the image's (nm, h, w)
    ``prototypes``; oriented-box heads add (N, 5) ``rotated`` cx, cy, w, h, angle (radians) in
    input pixels, ``boxes`` then being their axis-aligned hulls. ``clip`` is False where the
    reference leaves boxes reaching past the image as they are (Ultralytics' RT-DETR predictor).
    """

    boxes: Float32Array
    class_scores: Float32Array | None = None
    confidence: Float32Array | None = None
    class_id: Int64Array | None = None
    keypoints: Float32Array | None = None
    keypoint_scores: Float32Array | None = None
    mask_coefficients: Float32Array | None = None
    prototypes: Float32Array | None = None
    rotated: Float32Array | None = None
    clip: bool = True


@dataclass(frozen=True)
class LayoutParams:
    """Everything a decoder may need beyond the tensors themselves.

    ``anchors`` holds, per stride (or per head), (w, h) pairs in input pixels.
    ``num_keypoints`` > 0 tells the yolov8 decoder that extra channels are K x 3 keypoints.
    ``score_floor``: no score at or below it is kept (``postprocess`` sets its confidence), so a
    decoder may leave out rows that cannot score above it.
    """

    input_hw: tuple[int, int]
    strides: tuple[int, ...] = DEFAULT_STRIDES
    anchors: tuple[tuple[tuple[float, float], ...], ...] = ()
    num_classes: int | None = None
    num_keypoints: int = 0
    score_floor: float = 0.0
