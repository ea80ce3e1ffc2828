"""Image to network input, following the model's [input] config, recording the geometry once.

The returned :class:`detection.Transform` is the only description of the geometry: the
postprocessing maps boxes back by inverting it, never by recomputing it. The pixels are
resampled with the model's ``interpolation`` (``service.pipelines.resize``), a per-model fact of
its spec that every answer's ``ModelInfo`` carries; the Transform stays geometry only.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import cv2
import numpy as np
from numpy.typing import NDArray

from detection import Transform, letterbox, resize_crop, stretch
from service.pipelines.resize import resize_into, resize_region
from service.repository.config import Interpolation
from service.repository.spec import InputSpec


def plan_transform(image_hw: tuple[int, int], config: InputSpec, stride: int) -> Transform:
    """Decide the geometry for one image: letterbox, stretch or resize + centre crop."""
    input_hw = (int(config.size[0]), int(config.size[1]))
    if config.resize == "stretch":
        return stretch(image_hw, input_hw)
    if config.resize == "crop":
        return resize_crop(image_hw, config.resize_short or min(input_hw), input_hw)
    return letterbox(
        image_hw,
        input_hw,
        center=config.placement == "center",
        auto=config.auto_stride,
        stride=stride,
        scale_up=config.scale_up,
    )


def decode_floor(config: InputSpec) -> Callable[[tuple[int, int]], tuple[int, int]]:
    """For a reduced-scale decode (fast decode): the smallest size an image of a given size may
    be decoded at, the size ``config`` resizes it to, so the resize never enlarges what the
    decoder shrank."""
    return lambda image_hw: plan_transform(image_hw, config, config.stride).resized_hw


def apply_transform(
    pixels: NDArray[np.uint8],
    transform: Transform,
    pad_value: int,
    interpolation: Interpolation,
) -> NDArray[np.uint8]:
    """Resize and pad or crop an (H, W, 3) RGB image exactly as ``transform`` says.

    As Ultralytics' LetterBox (cv2.resize, then cv2.copyMakeBorder) or torchvision's Resize +
    CenterCrop do it; only the part of the resized image that lands in the input is kept. A
    letterbox or stretch is resized straight into the padded canvas, with no resized copy.
    """
    new_h, new_w = transform.resized_hw
    in_h, in_w = transform.input_hw
    offset_x, offset_y = transform.offset_xy
    left, top = max(0, -offset_x), max(0, -offset_y)
    right, bottom = min(new_w, in_w - offset_x), min(new_h, in_h - offset_y)
    if (new_h, new_w) == (in_h, in_w) and pixels.shape[:2] == (new_h, new_w):
        return pixels  # already the input: as LetterBox, nothing to resize or pad
    x, y = max(offset_x, 0), max(offset_y, 0)
    canvas = _padded_canvas((in_h, in_w), (x, y, x + right - left, y + bottom - top), pad_value)
    placed = canvas[y : y + bottom - top, x : x + right - left]
    if (left, top, right, bottom) == (0, 0, new_w, new_h):
        resize_into(pixels, placed, interpolation)
    else:  # a crop: only part of the resized picture lands in the input
        placed[...] = resize_region(
            pixels, (new_h, new_w), (left, top, right, bottom), interpolation
        )
    return canvas


def _padded_canvas(
    input_hw: tuple[int, int], inner: tuple[int, int, int, int], pad_value: int
) -> NDArray[np.uint8]:
    """An (H, W, 3) canvas with ``pad_value`` outside the ``inner`` (left, top, right, bottom)
    rectangle and nothing written inside it: the resize fills that."""
    canvas = np.empty((*input_hw, 3), dtype=np.uint8)
    left, top, right, bottom = inner
    canvas[:top] = pad_value
    canvas[bottom:] = pad_value
    canvas[top:bottom, :left] = pad_value
    canvas[top:bottom, right:] = pad_value
    return canvas


def to_tensor(pixels: NDArray[np.uint8], config: InputSpec) -> NDArray[np.float32]:
    """(H, W, 3) RGB uint8 to a (1, C, H, W) or (1, H, W, C) float32 tensor per the config.

    A channel's float depends on its byte alone, so the conversion is a table of 256 floats per
    channel, made once by the config's arithmetic (:func:`_channel_table`) and looked up by
    OpenCV straight into the tensor's layout: the same floats bit for bit, 1.4x the per-pixel
    arithmetic on a 640x640 input.
    """
    height, width = pixels.shape[:2]
    order = (2, 1, 0) if config.color == "BGR" else (0, 1, 2)
    tables = _channel_tables(config.scale, tuple(config.mean), tuple(config.std))
    planes = cv2.split(pixels)
    if config.layout == "NCHW":
        tensor = np.empty((1, 3, height, width), np.float32)
        for channel, (source, table) in enumerate(zip(order, tables, strict=True)):
            cv2.LUT(planes[source], table, dst=tensor[0, channel])
        return tensor
    tensor = np.empty((1, height, width, 3), np.float32)
    looked_up = [
        cv2.LUT(planes[source], table) for source, table in zip(order, tables, strict=True)
    ]
    cv2.merge(looked_up, dst=tensor[0])
    return tensor


@lru_cache(maxsize=64)
def _channel_tables(
    scale: float, mean: tuple[float, ...], std: tuple[float, ...]
) -> tuple[NDArray[np.float32], ...]:
    """Per channel, the float every byte value becomes (read-only)."""
    values = np.arange(256, dtype=np.uint8)
    tables = tuple(_channel_table(values, scale, m, s) for m, s in zip(mean, std, strict=True))
    for table in tables:
        table.setflags(write=False)
    return tables


def _channel_table(
    values: NDArray[np.uint8], scale: float, mean: float, std: float
) -> NDArray[np.float32]:
    """The config's arithmetic, in float32 as the model's reference does it: scale (a 1/n scale
    divides by n), then subtract the mean and divide by the std unless they are 0 and 1."""
    divisor = _divisor(scale)
    if divisor is None:
        floats = np.multiply(values, np.float32(scale), dtype=np.float32)
    else:
        floats = np.divide(values, np.float32(divisor), dtype=np.float32)
    if mean != 0 or std != 1:
        np.subtract(floats, np.float32(mean), out=floats)
        np.divide(floats, np.float32(std), out=floats)
    return floats


def _divisor(scale: float) -> int | None:
    """n when ``scale`` is exactly 1/n (n > 1), else None. A 1/n scale divides by n, as
    Ultralytics (``im /= 255``) and torchvision's ``ToTensor`` (``div(255)``) do: multiplying by
    float32(1/255) instead differs in the last bit for half of the 256 values, so the network
    would not see their tensor."""
    divisor = round(1 / scale)
    return divisor if divisor > 1 and 1 / divisor == scale else None


def preprocess(
    pixels: NDArray[np.uint8],
    config: InputSpec,
    stride: int = 32,
    image_hw: tuple[int, int] | None = None,
) -> tuple[NDArray[np.float32], Transform]:
    """The whole step: plan the geometry, apply it, and build the tensor.

    ``image_hw`` is the full picture's size when ``pixels`` were decoded at a reduced scale
    (fast decode): the geometry is planned and recorded in the full picture's pixels, so boxes
    map back to them, and only the resize starts from the smaller ``pixels``.
    """
    planned_hw = image_hw or (pixels.shape[0], pixels.shape[1])
    transform = plan_transform(planned_hw, config, stride)
    placed = apply_transform(pixels, transform, config.pad_value, config.interpolation)
    return to_tensor(placed, config), transform
