"""Decoders of Ultralytics' segmentation and oriented-box heads (``yolov8-seg``, ``yolov8-obb``).

Both are the ``yolov8`` layout with channels after the class scores: 32 mask coefficients and a
second output of prototypes for segmentation, one angle for OBB. Boxes come out as xyxy in
input pixels like every decoder's; what the task adds rides along on :class:`Candidates`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from detection.candidates import Candidates, LayoutParams
from detection.decoders.yolo import _single, decode_yolov8
from detection.errors import LayoutError
from detection.rotated import corners_to_xyxy, xywhr_to_corners

__all__ = ["decode_yolov8_obb", "decode_yolov8_seg", "split_segment_outputs"]


def split_segment_outputs(
    outputs: Sequence[NDArray[Any]],
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """(predictions [B, C, N], prototypes [B, nm, h, w]) of a segmentation model, in any order."""
    if len(outputs) != 2:
        raise LayoutError(
            f"yolov8-seg: expected 2 outputs (predictions and prototypes), got {len(outputs)}"
        )
    by_rank = {np.ndim(output): np.asarray(output) for output in outputs}
    if sorted(by_rank) != [3, 4]:
        shapes = ", ".join(str(np.shape(output)) for output in outputs)
        raise LayoutError(
            f"yolov8-seg: expected a rank-3 [B, 4+nc+nm, N] and a rank-4 [B, nm, h, w] output, "
            f"got {shapes}"
        )
    return by_rank[3].astype(np.float32, copy=False), by_rank[4].astype(np.float32, copy=False)


def decode_yolov8_seg(outputs: Sequence[NDArray[Any]], params: LayoutParams) -> list[Candidates]:
    """``[B, 4 + nc + nm, N]`` and prototypes ``[B, nm, H/4, W/4]``.

    Boxes and scores as ``yolov8``; the last nm channels are each anchor's mask coefficients,
    nm being the prototypes' channel count. nc is ``num_classes`` when given, else the rest.
    """
    predictions, prototypes = split_segment_outputs(outputs)
    batch, channels, _ = predictions.shape
    coefficients = prototypes.shape[1]
    classes = params.num_classes if params.num_classes is not None else channels - 4 - coefficients
    if prototypes.shape[0] != batch or classes <= 0 or 4 + classes + coefficients != channels:
        raise LayoutError(
            f"yolov8-seg: predictions {predictions.shape} do not hold 4 box values, {classes} "
            f"classes and the {coefficients} mask coefficients of prototypes {prototypes.shape}"
        )
    plain = decode_yolov8([predictions], replace(params, num_classes=classes, num_keypoints=0))
    rows = predictions[:, 4 + classes :, :].transpose(0, 2, 1)  # (B, N, nm)
    return [
        replace(found, mask_coefficients=rows[b], prototypes=prototypes[b])
        for b, found in enumerate(plain)
    ]


def decode_yolov8_obb(outputs: Sequence[NDArray[Any]], params: LayoutParams) -> list[Candidates]:
    """``[B, 4 + nc + 1, N]``: cx, cy, w, h (the box's own frame), class scores, angle.

    The angle (radians, the head's ``(sigmoid - 0.25) * pi``) is the last channel. Candidates
    carry the (N, 5) rotated boxes; ``boxes`` are their axis-aligned hulls.
    """
    output = _single(outputs, "yolov8-obb", rank=3)
    batch, channels, _ = output.shape
    classes = params.num_classes if params.num_classes is not None else channels - 5
    if classes <= 0 or 4 + classes + 1 != channels:
        raise LayoutError(
            f"yolov8-obb: {channels} channels do not hold 4 box values, {classes} classes and "
            f"an angle (output shape {output.shape})"
        )
    rows = output.transpose(0, 2, 1)  # (B, N, C)
    rotated = np.concatenate((rows[..., :4], rows[..., -1:]), axis=-1)
    scores = rows[..., 4 : 4 + classes]
    return [
        Candidates(
            corners_to_xyxy(xywhr_to_corners(rotated[b])),
            class_scores=scores[b],
            rotated=rotated[b],
        )
        for b in range(batch)
    ]
