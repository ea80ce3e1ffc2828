"""Image to network input, following the model's [input] config, recording the geometry once.

The returned :class:`detection.Transform` is the only description of the geometry: the
postprocessing maps boxes back by inverting it, never by recomputing it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from detection import Transform, letterbox, resize_crop, stretch
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


def apply_transform(
    pixels: NDArray[np.uint8], transform: Transform, pad_value: int
) -> NDArray[np.uint8]:
    """Resize (bilinear) and pad or crop an (H, W, 3) RGB image exactly as ``transform`` says.

    Only the part of the resized image that lands in the input is computed, so a centre crop
    of an extreme strip (1 x 40000 -> shorter side 256) never builds the whole resized picture.
    """
    new_h, new_w = transform.resized_hw
    in_h, in_w = transform.input_hw
    offset_x, offset_y = transform.offset_xy
    left, top = max(0, -offset_x), max(0, -offset_y)
    right, bottom = min(new_w, in_w - offset_x), min(new_h, in_h - offset_y)
    image = Image.fromarray(pixels)
    if (new_h, new_w) != transform.image_hw or (left, top, right, bottom) != (0, 0, new_w, new_h):
        scale_x, scale_y = image.width / new_w, image.height / new_h
        source_box = (left * scale_x, top * scale_y, right * scale_x, bottom * scale_y)
        image = image.resize(
            (right - left, bottom - top), Image.Resampling.BILINEAR, box=source_box
        )
    canvas = Image.new("RGB", (in_w, in_h), (pad_value,) * 3)
    canvas.paste(image, (max(offset_x, 0), max(offset_y, 0)))
    return np.asarray(canvas, dtype=np.uint8)


def to_tensor(pixels: NDArray[np.uint8], config: InputSpec) -> NDArray[np.float32]:
    """(H, W, 3) RGB uint8 to a (1, C, H, W) or (1, H, W, C) float32 tensor per the config."""
    array = pixels[..., ::-1] if config.color == "BGR" else pixels
    tensor = array.astype(np.float32) * np.float32(config.scale)
    mean = np.asarray(config.mean, dtype=np.float32)
    std = np.asarray(config.std, dtype=np.float32)
    if mean.any() or (std != 1).any():
        tensor = (tensor - mean) / std
    if config.layout == "NCHW":
        tensor = tensor.transpose(2, 0, 1)
    return np.ascontiguousarray(tensor[None])


def preprocess(
    pixels: NDArray[np.uint8], config: InputSpec, stride: int = 32
) -> tuple[NDArray[np.float32], Transform]:
    """The whole step: plan the geometry, apply it, and build the tensor."""
    transform = plan_transform((pixels.shape[0], pixels.shape[1]), config, stride)
    placed = apply_transform(pixels, transform, config.pad_value)
    return to_tensor(placed, config), transform
