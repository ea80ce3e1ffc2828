"""Anchor points and prior boxes of the face detectors, built once per input size.

They depend only on the network input size (and strides / prior sizes), never on the image, so
they are cached: a service decoding every request at one input size builds them once. The cached
arrays are read-only so that no caller can corrupt the cache by writing into them.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

Float32Array = NDArray[np.float32]


def grid_hw(input_hw: tuple[int, int], stride: int) -> tuple[int, int]:
    """Feature-map size at ``stride``: ceil(H / s) x ceil(W / s), as padded stride-2 convs give."""
    height, width = input_hw
    return -(-height // stride), -(-width // stride)


@lru_cache(maxsize=64)
def anchor_points(input_hw: tuple[int, int], stride: int, per_cell: int) -> Float32Array:
    """(cells * per_cell, 2) points (col * s, row * s), row-major, each repeated ``per_cell`` times.

    YuNet (one point per cell) and SCRFD (two anchors per cell sharing a centre) both regress
    from these top-left cell corners in input pixels.
    """
    rows, cols = grid_hw(input_hw, stride)
    row, col = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    points = np.stack((col.ravel(), row.ravel()), axis=1).astype(np.float32) * stride
    points = np.repeat(points, per_cell, axis=0)
    points.setflags(write=False)
    return points


@lru_cache(maxsize=16)
def retinaface_priors(
    input_hw: tuple[int, int],
    strides: tuple[int, ...],
    sizes: tuple[tuple[tuple[float, float], ...], ...],
) -> Float32Array:
    """(N, 4) RetinaFace priors (cx, cy, w, h) in input pixels, in the network's output order.

    Order: stride by stride; within a stride cell rows then columns; within a cell each prior
    size of that stride. Centres sit at (col + 0.5) * s, (row + 0.5) * s. ``sizes[k]`` holds the
    (w, h) prior sizes of ``strides[k]`` (biubug6's min_sizes, squares there).
    """
    per_stride = []
    for stride, stride_sizes in zip(strides, sizes, strict=True):
        centres = anchor_points(input_hw, stride, len(stride_sizes)) + stride / 2
        wh = np.tile(
            np.asarray(stride_sizes, dtype=np.float32), (len(centres) // len(stride_sizes), 1)
        )
        per_stride.append(np.concatenate((centres, wh), axis=1))
    priors = np.concatenate(per_stride, axis=0).astype(np.float32, copy=False)
    priors.setflags(write=False)
    return priors
