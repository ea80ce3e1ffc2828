"""Resampling with the filter the model's own reference code uses, so its pixels are reproduced.

Why two libraries: the detectors' and face models' demos (Ultralytics, YOLOX, OpenCV Zoo,
insightface) resize with ``cv2.resize``; torchvision's ``Resize`` on a PIL image (ImageNet
classifiers, Ultralytics' ``classify_transforms``) is Pillow's bilinear, which widens its filter
when shrinking ("antialias"). The two differ by tens of grey levels on a shrunk photo — enough to
move boxes by pixels and scores by 0.1 — so only the reference's own filter gives its network
input bit for bit (tests/integration/test_reference_pixels.py).
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from service.repository.config import Interpolation

Size = tuple[int, int]
Box = tuple[int, int, int, int]

_OPENCV: dict[Interpolation, int] = {
    "linear": cv2.INTER_LINEAR,
    "area": cv2.INTER_AREA,
    "cubic": cv2.INTER_CUBIC,
    "nearest": cv2.INTER_NEAREST,
}
# A centre crop of an extreme strip (1 x 40000, shorter side to 256) would resize to gigapixels:
# past this many resized pixels only the cropped region is computed, as a sampling of the same
# mapping (within a grey level of resize-then-crop, not bit-exact). Below it, resize-then-crop
# is exact, as torchvision's Resize + CenterCrop is; ordinary photos stay far below it.
MAX_WHOLE_RESIZE_PIXELS = 4_000_000


def resize(
    pixels: NDArray[np.uint8], size_hw: Size, interpolation: Interpolation
) -> NDArray[np.uint8]:
    """(H, W, 3) uint8 at ``size_hw``; returned unchanged when already that size (as LetterBox)."""
    if pixels.shape[:2] == tuple(size_hw):
        return pixels
    return resize_into(pixels, np.empty((*size_hw, pixels.shape[2]), np.uint8), interpolation)


def resize_into(
    pixels: NDArray[np.uint8], out: NDArray[np.uint8], interpolation: Interpolation
) -> NDArray[np.uint8]:
    """``pixels`` resampled to fill ``out``, an (h, w, 3) uint8 array or a view of a larger one
    (the letterbox canvas), written in place: no resized copy is made and then pasted."""
    if pixels.shape[:2] == out.shape[:2]:
        out[...] = pixels
        return out
    source = np.ascontiguousarray(pixels)
    if interpolation == "antialias":
        height, width = out.shape[:2]
        image = Image.fromarray(source).resize((width, height), Image.Resampling.BILINEAR)
        out[...] = np.asarray(image, dtype=np.uint8)
        return out
    # ``dst`` of the same shape and dtype is written in place, a view with row strides included.
    cv2.resize(source, (out.shape[1], out.shape[0]), dst=out, interpolation=_OPENCV[interpolation])
    return out


def resize_region(
    pixels: NDArray[np.uint8], size_hw: Size, box: Box, interpolation: Interpolation
) -> NDArray[np.uint8]:
    """The (left, top, right, bottom) ``box`` of ``pixels`` resized to ``size_hw``.

    Exactly ``resize(...)[top:bottom, left:right]``, unless the whole resized picture would
    exceed :data:`MAX_WHOLE_RESIZE_PIXELS`; then only the box is sampled, with the same
    mapping: Pillow's own ``box``, OpenCV's nearest-pixel rule, or ``cv2.warpAffine`` (within
    a grey level or two; "area" is sampled linearly there, warpAffine having no area filter).
    """
    left, top, right, bottom = box
    height, width = size_hw
    if height * width <= MAX_WHOLE_RESIZE_PIXELS or box == (0, 0, width, height):
        return resize(pixels, size_hw, interpolation)[top:bottom, left:right]
    source = np.ascontiguousarray(pixels)
    src_h, src_w = source.shape[:2]
    if interpolation == "antialias":
        scale_x, scale_y = src_w / width, src_h / height
        region = Image.fromarray(source).resize(
            (right - left, bottom - top),
            Image.Resampling.BILINEAR,
            box=(left * scale_x, top * scale_y, right * scale_x, bottom * scale_y),
        )
        return np.asarray(region, dtype=np.uint8)
    # cv2.resize's scale: the inverse of destination / source, as it computes it.
    scale_x, scale_y = 1.0 / (width / src_w), 1.0 / (height / src_h)
    if interpolation == "nearest":  # cv2: source = floor(destination * scale), clamped
        rows = np.minimum(np.floor(np.arange(top, bottom) * scale_y).astype(np.intp), src_h - 1)
        cols = np.minimum(np.floor(np.arange(left, right) * scale_x).astype(np.intp), src_w - 1)
        picked: NDArray[np.uint8] = source[rows[:, None], cols]
        return picked
    # The other filters map pixel centres: source = (destination + 0.5) * scale - 0.5.
    inverse = np.array(
        [
            [scale_x, 0.0, (left + 0.5) * scale_x - 0.5],
            [0.0, scale_y, (top + 0.5) * scale_y - 0.5],
        ]
    )
    flag = cv2.INTER_CUBIC if interpolation == "cubic" else cv2.INTER_LINEAR
    region_cv = cv2.warpAffine(
        source,
        inverse,
        (right - left, bottom - top),
        flags=flag | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return np.asarray(region_cv, dtype=np.uint8).reshape(bottom - top, right - left, -1)
