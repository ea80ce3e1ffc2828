"""High-bit-depth grey pictures to 8-bit RGB, the same arithmetic on Pillow's path and
OpenCV's (``service.pipelines.images``, ``service.pipelines.opencv_decode``)."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
from numpy.typing import NDArray

_ROWS_PIXELS = 1 << 20  # grey pixels scaled per block: 8 MB of float64 at most


def to_eight(values: NDArray[np.generic], peak: float) -> NDArray[np.uint8]:
    """``values`` scaled from 0..``peak`` to 0..255, rounded; NaN becomes 0 (the service's rule
    for high-bit-depth pictures, on both paths)."""
    scaled = values.astype(np.float64)
    np.nan_to_num(scaled, copy=False, nan=0.0)
    scaled /= peak
    scaled *= 255.0
    scaled += 0.5
    np.clip(scaled, 0, 255, out=scaled)
    return scaled.astype(np.uint8)


#: ``to_eight`` of every 16-bit value, looked up instead of computed per pixel.
SIXTEEN_TO_EIGHT = to_eight(np.arange(65536, dtype=np.uint16), 65535.0)


def grey_rows_to_rgb(
    height: int, width: int, eight_bit: Callable[[int, int], NDArray[np.uint8]]
) -> NDArray[np.uint8]:
    """RGB from 8-bit grey made a block of rows at a time (``eight_bit(top, bottom)``), so
    that a high-bit-depth picture never has a second full-size copy besides the result."""
    rgb = np.empty((height, width, 3), dtype=np.uint8)
    rows = max(1, _ROWS_PIXELS // width)
    for top in range(0, height, rows):
        bottom = min(top + rows, height)
        # Into the result's rows in place; twice as fast as numpy's broadcast assignment.
        cv2.cvtColor(eight_bit(top, bottom), cv2.COLOR_GRAY2RGB, dst=rgb[top:bottom])
    return rgb
