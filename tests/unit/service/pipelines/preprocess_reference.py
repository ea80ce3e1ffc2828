"""The preprocessing as it was before it wrote into preallocated arrays (git 3197674), kept as
the oracle that the lean version must equal bit for bit. Not used by the service."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from detection import Transform
from service.pipelines.preprocess import plan_transform
from service.pipelines.resize import resize_region
from service.repository.config import Interpolation
from service.repository.spec import InputSpec


def apply_transform(
    pixels: NDArray[np.uint8], transform: Transform, pad_value: int, interpolation: Interpolation
) -> NDArray[np.uint8]:
    new_h, new_w = transform.resized_hw
    in_h, in_w = transform.input_hw
    offset_x, offset_y = transform.offset_xy
    left, top = max(0, -offset_x), max(0, -offset_y)
    right, bottom = min(new_w, in_w - offset_x), min(new_h, in_h - offset_y)
    region = resize_region(pixels, (new_h, new_w), (left, top, right, bottom), interpolation)
    if region.shape[:2] == (in_h, in_w):
        return region
    canvas = np.full((in_h, in_w, 3), pad_value, dtype=np.uint8)
    x, y = max(offset_x, 0), max(offset_y, 0)
    canvas[y : y + region.shape[0], x : x + region.shape[1]] = region
    return canvas


def to_tensor(pixels: NDArray[np.uint8], config: InputSpec) -> NDArray[np.float32]:
    array = pixels[..., ::-1] if config.color == "BGR" else pixels
    tensor = _scaled(array, config.scale)
    mean = np.asarray(config.mean, dtype=np.float32)
    std = np.asarray(config.std, dtype=np.float32)
    if mean.any() or (std != 1).any():
        tensor = (tensor - mean) / std
    if config.layout == "NCHW":
        tensor = tensor.transpose(2, 0, 1)
    return np.ascontiguousarray(tensor[None])


def _scaled(array: NDArray[np.uint8], scale: float) -> NDArray[np.float32]:
    values = array.astype(np.float32)
    divisor = round(1 / scale)
    if divisor > 1 and 1 / divisor == scale:
        return values / np.float32(divisor)
    return values * np.float32(scale)


def preprocess(
    pixels: NDArray[np.uint8], config: InputSpec, stride: int = 32
) -> tuple[NDArray[np.float32], Transform]:
    transform = plan_transform((pixels.shape[0], pixels.shape[1]), config, stride)
    placed = apply_transform(pixels, transform, config.pad_value, config.interpolation)
    return to_tensor(placed, config), transform
