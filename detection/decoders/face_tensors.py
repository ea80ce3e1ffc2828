"""Finding the face detectors' tensors by shape, so that the output order of an export is moot.

Exporters number their outputs arbitrarily and runtimes may return them in any order, so the
decoders never use names. Per-stride heads (YuNet, SCRFD) are assigned to strides by their row
count (ceil(H/s) * ceil(W/s) * anchors per cell) and to roles by their last dimension; single
heads (RetinaFace, UltraFace) by their last dimension alone. Where two tensors share a shape
(YuNet's cls/obj), the decoder is written so that their order does not matter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from detection.candidates import Candidates, LayoutParams
from detection.decoders.face_priors import grid_hw
from detection.errors import LayoutError

Float32Array = NDArray[np.float32]


def shapes(arrays: Sequence[NDArray[Any]]) -> str:
    """The shapes of all outputs, for error messages."""
    return ", ".join(str(tuple(np.shape(a))) for a in arrays)


def check_input_hw(layout: str, params: LayoutParams) -> tuple[int, int]:
    """params.input_hw as a validated (H, W) of positive ints."""
    height, width = params.input_hw
    if height <= 0 or width <= 0:
        raise LayoutError(f"{layout}: input_hw must be positive, got {params.input_hw}")
    return int(height), int(width)


def check_strides(layout: str, params: LayoutParams) -> tuple[int, ...]:
    """params.strides, validated as distinct positive ints (order kept)."""
    strides = tuple(int(s) for s in params.strides)
    if not strides or min(strides) <= 0 or len(set(strides)) != len(strides):
        raise LayoutError(f"{layout}: strides must be distinct positive ints, got {params.strides}")
    return strides


def as_rows(layout: str, outputs: Sequence[NDArray[Any]]) -> list[Float32Array]:
    """Each output as float32 (B, N, D); an (N, D) output (SCRFD has no batch axis) gets B = 1."""
    arrays = []
    for index, output in enumerate(outputs):
        array = np.asarray(output, dtype=np.float32)
        if array.ndim == 2:
            array = array[None]
        if array.ndim != 3:
            raise LayoutError(
                f"{layout}: output {index} has shape {np.shape(output)}; "
                "expected (N, D) or (batch, N, D)"
            )
        arrays.append(array)
    if len({a.shape[0] for a in arrays}) > 1:
        raise LayoutError(f"{layout}: outputs disagree on the batch size: {shapes(outputs)}")
    return arrays


def pick_by_last_dim(
    layout: str, arrays: Sequence[Float32Array], dims: Sequence[int], roles: str
) -> list[Float32Array]:
    """The arrays whose last dimension is ``dims[0]``, ``dims[1]``, ... (each exactly once).

    All must have the same number of rows. ``roles`` names them for the error message.
    """
    if sorted(a.shape[-1] for a in arrays) != sorted(dims):
        raise LayoutError(
            f"{layout}: expected {len(dims)} outputs ({roles}) with last dimensions "
            f"{tuple(dims)} in any order, got shapes {shapes(arrays)}"
        )
    picked = [next(a for a in arrays if a.shape[-1] == dim) for dim in dims]
    if len({a.shape[1] for a in picked}) > 1:
        raise LayoutError(f"{layout}: outputs disagree on the number of rows: {shapes(arrays)}")
    return picked


@dataclass(frozen=True)
class StrideHeads:
    """One stride's tensors, keyed by last dimension, in their original output order."""

    stride: int
    by_dim: Mapping[int, list[Float32Array]]


def group_by_stride(
    layout: str,
    arrays: Sequence[Float32Array],
    params: LayoutParams,
    dims: Mapping[int, int],
    per_cell: int,
) -> list[StrideHeads]:
    """Assign per-stride outputs to strides by row count and to roles by last dimension.

    ``dims`` maps each last dimension to how many tensors of it one stride has (YuNet: 1 -> 2
    for cls and obj); stride s has ceil(H/s) * ceil(W/s) * ``per_cell`` rows. Returns the heads
    in ascending stride order.
    """
    height, width = check_input_hw(layout, params)
    strides = sorted(check_strides(layout, params))
    per_stride = sum(dims.values())
    if len(arrays) != per_stride * len(strides):
        raise LayoutError(
            f"{layout}: expected {per_stride * len(strides)} outputs ({per_stride} for each of "
            f"strides {tuple(strides)}), got {len(arrays)}: {shapes(arrays)}"
        )
    expected = [int(np.prod(grid_hw((height, width), s))) * per_cell for s in strides]
    if len(set(expected)) != len(expected):
        raise LayoutError(
            f"{layout}: input {height}x{width} is too small to tell strides {tuple(strides)} "
            f"apart (rows per stride {expected})"
        )
    if sorted({a.shape[1] for a in arrays}) != sorted(expected):
        raise LayoutError(
            f"{layout}: input {height}x{width} with {per_cell} anchor(s) per cell needs "
            f"{expected} rows at strides {tuple(strides)}, got shapes {shapes(arrays)}"
        )
    heads = []
    for stride, rows in zip(strides, expected, strict=True):
        group = [a for a in arrays if a.shape[1] == rows]
        by_dim = {dim: [a for a in group if a.shape[-1] == dim] for dim in dims}
        if len(group) != per_stride or any(len(by_dim[d]) != n for d, n in dims.items()):
            raise LayoutError(
                f"{layout}: stride {stride} ({rows} rows) needs last dimensions "
                f"{dict(dims)} (dim: count), got shapes {shapes(group)}"
            )
        heads.append(StrideHeads(stride, by_dim))
    return heads


def per_image(
    boxes: Float32Array, scores: Float32Array, keypoints: Float32Array | None
) -> list[Candidates]:
    """Split batched (B, N, ...) results into one Candidates per image (face score: 1 column)."""
    return [
        Candidates(
            boxes=np.ascontiguousarray(boxes[b], dtype=np.float32),
            class_scores=np.ascontiguousarray(scores[b].reshape(-1, 1), dtype=np.float32),
            keypoints=None
            if keypoints is None
            else np.ascontiguousarray(keypoints[b], dtype=np.float32),
        )
        for b in range(boxes.shape[0])
    ]
