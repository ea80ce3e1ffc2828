"""Bytes to an upright RGB uint8 array, refusing what is not a sane image.

EXIF orientation is applied first, so every later stage (and every box) refers to the picture
as a person sees it. The pixel limit is checked from the header, before any pixel is decoded.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from service.errors import ServiceError

# Pillow's own bomb guard would refuse by its global limit with its own wording; the service
# checks its configured VISION_MAX_PIXELS from the header instead, before decoding any pixel.
Image.MAX_IMAGE_PIXELS = None

ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF", "MPO"})


class ImageDecodeError(ServiceError):
    """The bytes are not an image we accept, or are damaged."""


class ImageTooLargeError(ServiceError):
    """The image has more pixels than allowed (a decompression bomb, or just too big)."""


@dataclass(frozen=True)
class DecodedImage:
    """An upright RGB picture; ``pixels`` is (H, W, 3) uint8."""

    pixels: NDArray[np.uint8]
    format: str

    @property
    def hw(self) -> tuple[int, int]:
        return int(self.pixels.shape[0]), int(self.pixels.shape[1])


def decode_image(data: bytes, *, max_pixels: int, name: str = "image") -> DecodedImage:
    """Decode ``data``; errors name the upload (``name``) and say what was wrong."""
    if not data:
        raise ImageDecodeError(f"{name}: the upload is empty")
    try:
        image = Image.open(io.BytesIO(data))
        if image.format not in ACCEPTED_FORMATS:
            raise ImageDecodeError(
                f"{name}: {image.format} images are not accepted; send JPEG, PNG, WebP, "
                "BMP, GIF or TIFF"
            )
        width, height = image.size
        if width <= 0 or height <= 0:
            raise ImageDecodeError(f"{name}: the image has no pixels ({width}x{height})")
        if width * height > max_pixels:
            raise ImageTooLargeError(
                f"{name}: {width}x{height} = {width * height} pixels is over the limit "
                f"of {max_pixels}"
            )
        image.seek(0)  # first frame of an animation
        image.load()
        rgb = _to_rgb(ImageOps.exif_transpose(image))
    except (ImageDecodeError, ImageTooLargeError):
        raise
    except UnidentifiedImageError:
        raise ImageDecodeError(
            f"{name}: not an image in a known format (JPEG, PNG, WebP, BMP, GIF or TIFF)"
        ) from None
    except (OSError, ValueError, SyntaxError, EOFError, ZeroDivisionError, IndexError) as error:
        # Pillow reports damaged files through all of these, depending on the format.
        raise ImageDecodeError(f"{name}: not a decodable image ({error})") from None
    return DecodedImage(pixels=np.asarray(rgb, dtype=np.uint8), format=str(image.format))


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any mode to RGB; transparency is composited on white, as a viewer would show it."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        grey = np.clip(values / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    return image.convert("RGB")
