"""Resize geometry, recorded once at preprocessing and inverted from that same record.

Recomputing the padding at post-processing time is how peers end up 1-3 px off; here the
preprocessing step builds a :class:`Transform` and post-processing only ever inverts it.
The letterbox rules are ultralytics' ``LetterBox`` (Python's round-half-even included), so its
exports map back exactly: one gain per axis, ``new_w / w0`` and ``new_h / h0``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from detection.boxes import as_boxes
from detection.errors import DetectionError

Size = tuple[int, int]


@dataclass(frozen=True)
class Transform:
    """How an image of ``image_hw`` became a network input of ``input_hw``.

    The image is resized to ``resized_hw``, then its top-left corner lands at ``offset_xy`` in
    the input (the left/top padding, or minus the crop origin). ``pad_ltrb`` is the padding to
    apply (zeros for stretch and crop).
    """

    image_hw: Size
    input_hw: Size
    resized_hw: Size
    offset_xy: tuple[int, int]
    pad_ltrb: tuple[int, int, int, int] = (0, 0, 0, 0)

    @property
    def gain_xy(self) -> tuple[float, float]:
        """Per-axis scale from image to input pixels."""
        return (
            self.resized_hw[1] / self.image_hw[1],
            self.resized_hw[0] / self.image_hw[0],
        )

    def points_to_image(self, points: ArrayLike, *, clip: bool = True) -> NDArray[np.float32]:
        """Map (..., 2) x, y points from input pixels back to image pixels, clipped to it
        unless ``clip`` is False."""
        array = np.asarray(points, dtype=np.float64)
        if array.shape[-1:] != (2,):
            raise DetectionError(f"points must have shape (..., 2), got {array.shape}")
        height, width = self.image_hw
        gain_x, gain_y = self.gain_xy
        x = (array[..., 0] - self.offset_xy[0]) / gain_x
        y = (array[..., 1] - self.offset_xy[1]) / gain_y
        if clip:
            x, y = np.clip(x, 0, width), np.clip(y, 0, height)
        return np.stack((x, y), axis=-1).astype(np.float32)

    def boxes_to_image(self, boxes: ArrayLike, *, clip: bool = True) -> NDArray[np.float32]:
        """Map (N, 4) xyxy boxes from input pixels back to image pixels, clipped to it unless
        ``clip`` is False."""
        corners = as_boxes(boxes).reshape(-1, 2, 2)
        return self.points_to_image(corners, clip=clip).reshape(-1, 4)


def _check_size(name: str, size: Size) -> None:
    if len(size) != 2 or min(size) <= 0:
        raise DetectionError(f"{name} must be a positive (height, width), got {size}")


def letterbox(
    image_hw: Size,
    input_hw: Size,
    *,
    center: bool = True,
    auto: bool = False,
    stride: int = 32,
    scale_up: bool = True,
) -> Transform:
    """Fit the image inside ``input_hw`` keeping its aspect ratio, then pad.

    ``auto`` pads only to the next multiple of ``stride`` (ultralytics' minimum rectangle), so
    the recorded ``input_hw`` is then smaller than the one asked for. ``center=False`` puts the
    image at the top-left corner (YOLOX, YuNet, SCRFD, RetinaFace).
    """
    _check_size("image_hw", image_hw)
    _check_size("input_hw", input_hw)
    height, width = int(image_hw[0]), int(image_hw[1])
    target_h, target_w = int(input_hw[0]), int(input_hw[1])
    ratio = min(target_h / height, target_w / width)
    if not scale_up:
        ratio = min(ratio, 1.0)
    # At least one pixel: a 1 x 10000 strip must not vanish into a zero-sized resize.
    new_w, new_h = max(1, round(width * ratio)), max(1, round(height * ratio))
    pad_w, pad_h = target_w - new_w, target_h - new_h
    if auto:
        pad_w, pad_h = pad_w % stride, pad_h % stride
    if center:
        half_w, half_h = pad_w / 2, pad_h / 2
        left, right = round(half_w - 0.1), round(half_w + 0.1)
        top, bottom = round(half_h - 0.1), round(half_h + 0.1)
    else:
        left, top, right, bottom = 0, 0, pad_w, pad_h
    return Transform(
        image_hw=(height, width),
        input_hw=(new_h + top + bottom, new_w + left + right),
        resized_hw=(new_h, new_w),
        offset_xy=(left, top),
        pad_ltrb=(left, top, right, bottom),
    )


def stretch(image_hw: Size, input_hw: Size) -> Transform:
    """Resize to exactly ``input_hw``, ignoring the aspect ratio (e.g. UltraFace)."""
    _check_size("image_hw", image_hw)
    _check_size("input_hw", input_hw)
    input_size = (int(input_hw[0]), int(input_hw[1]))
    return Transform(
        image_hw=(int(image_hw[0]), int(image_hw[1])),
        input_hw=input_size,
        resized_hw=input_size,
        offset_xy=(0, 0),
    )


def resize_crop(image_hw: Size, resize_short: int, crop_hw: Size) -> Transform:
    """Shorter side to ``resize_short`` (torchvision ``Resize(int)``), then centre crop.

    The classic ImageNet evaluation transform; a crop larger than the resized image is padded,
    as torchvision's ``CenterCrop`` does.
    """
    _check_size("image_hw", image_hw)
    _check_size("crop_hw", crop_hw)
    if resize_short <= 0:
        raise DetectionError(f"resize_short must be positive, got {resize_short}")
    height, width = int(image_hw[0]), int(image_hw[1])
    if height <= width:
        new_h, new_w = resize_short, max(1, int(resize_short * width / height))
    else:
        new_h, new_w = max(1, int(resize_short * height / width)), resize_short
    crop_h, crop_w = crop_hw
    top = round((new_h - crop_h) / 2.0)
    left = round((new_w - crop_w) / 2.0)
    pad = (max(-left, 0), max(-top, 0), max(crop_w - new_w + left, 0), max(crop_h - new_h + top, 0))
    return Transform(
        image_hw=(height, width),
        input_hw=(crop_h, crop_w),
        resized_hw=(new_h, new_w),
        offset_xy=(-left, -top),
        pad_ltrb=pad,
    )
