"""Image to network input, following the model's [input] config, recording the geometry once.

The returned :class:`detection.Transform` is the only description of the geometry: the
postprocessing maps boxes back by inverting it, never by recomputing it. The pixels are
resampled with the model's ``interpolation`` (``service.pipelines.resize``), a per-model fact of
its spec that every answer's ``ModelInfo`` carries; the Transform stays geometry only.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from detection import Transform, letterbox, resize_crop, stretch
from service.pipelines.resize import resize_region
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


def apply_transform(
    pixels: NDArray[np.uint8],
    transform: Transform,
    pad_value: int,
    interpolation: Interpolation,
) -> NDArray[np.uint8]:
    """Resize and pad or crop an (H, W, 3) RGB image exactly as ``transform`` says.

    As Ultralytics' LetterBox (cv2.resize, then cv2.copyMakeBorder) or torchvision's Resize +
    CenterCrop do it; only the part of the resized image that lands in the input is kept.
    """
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
    """(H, W, 3) RGB uint8 to a (1, C, H, W) or (1, H, W, C) float32 tensor per the config."""
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
    """uint8 times ``scale``. A 1/n scale divides by n, as Ultralytics (``im /= 255``) and
    torchvision's ``ToTensor`` (``div(255)``) do: multiplying by float32(1/255) instead differs
    in the last bit for half of the 256 values, so the network would not see their tensor."""
    values = array.astype(np.float32)
    divisor = round(1 / scale)
    if divisor > 1 and 1 / divisor == scale:
        return values / np.float32(divisor)
    return values * np.float32(scale)


def preprocess(
    pixels: NDArray[np.uint8], config: InputSpec, stride: int = 32
) -> tuple[NDArray[np.float32], Transform]:
    """The whole step: plan the geometry, apply it, and build the tensor."""
    transform = plan_transform((pixels.shape[0], pixels.shape[1]), config, stride)
    placed = apply_transform(pixels, transform, config.pad_value, config.interpolation)
    return to_tensor(placed, config), transform
