"""Pictures as answers: RGB arrays encoded as JPEG or PNG bytes, or as data URLs."""

from __future__ import annotations

import base64
import io
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from service.api.drawing import JPEG_QUALITY

PictureFormat = Literal["jpeg", "png"]
MEDIA_TYPES: dict[str, str] = {"jpeg": "image/jpeg", "png": "image/png"}


def encode_picture(
    pixels: NDArray[np.uint8], fmt: PictureFormat = "jpeg", *, quality: int = JPEG_QUALITY
) -> bytes:
    """(H, W, 3) RGB uint8 as JPEG (lossy, small) or PNG (lossless) bytes."""
    buffer = io.BytesIO()
    image = Image.fromarray(np.ascontiguousarray(pixels))
    if fmt == "png":
        image.save(buffer, format="PNG")
    else:
        image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def data_url(pixels: NDArray[np.uint8], *, quality: int = 85) -> str:
    """A small picture inlined in JSON: ``data:image/jpeg;base64,...``."""
    encoded = base64.b64encode(encode_picture(pixels, "jpeg", quality=quality)).decode("ascii")
    return f"data:image/jpeg;base64,{encoded}"
