"""Bytes to an upright RGB uint8 array, refusing what is not a sane image.

EXIF orientation is applied first, so every later stage (and every box) refers to the picture
as a person sees it; unreadable EXIF means no rotation (and a ``notice``), never an error. The
pixel limit and the decoded-memory limit are checked from the header, before any pixel is
decoded, and high-bit-depth pixels reach 8 bits in row blocks, never as one float64 array.
Complete RGB and greyscale JPEGs are decoded by libjpeg-turbo straight into numpy, which gives
the same pixels faster (``service.pipelines.jpeg_decode``), and plain PNGs and WebPs by OpenCV
(``service.pipelines.opencv_decode``); every other upload takes Pillow's path.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from service.errors import ServiceError
from service.pipelines.high_depth import SIXTEEN_TO_EIGHT, grey_rows_to_rgb, to_eight
from service.pipelines.jpeg_decode import decode_jpeg
from service.pipelines.opencv_decode import decode_plain
from service.pipelines.png_data import png_shortfall

# Pillow's own bomb guard would refuse by its global limit with its own wording; the service
# checks its configured VISION_MAX_PIXELS from the header instead, before decoding any pixel.
Image.MAX_IMAGE_PIXELS = None

ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF", "MPO"})
#: Default of VISION_MAX_DECODED_BYTES: a max_pixels (40 M) image in any 4-byte mode.
DEFAULT_MAX_DECODED_BYTES = 160 * 1024 * 1024
_HIGH_DEPTH = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
_ONE_BYTE_MODES = frozenset({"1", "L", "P"})
EXIF_UNREADABLE = "exif-unreadable; not rotated"


class ImageDecodeError(ServiceError):
    """The bytes are not an image we accept, or are damaged."""


class ImageTooLargeError(ServiceError):
    """The image has more pixels (or decoded bytes) than allowed: a bomb, or just too big."""


@dataclass(frozen=True)
class DecodedImage:
    """An upright RGB picture; ``pixels`` is (H, W, 3) uint8. ``notice`` says what was
    ignored on the way (unreadable EXIF), for a response header. ``full_hw`` is the picture's
    upright size when ``pixels`` are a reduced-scale decode of it (fast decode), else None."""

    pixels: NDArray[np.uint8]
    format: str
    notice: str | None = None
    full_hw: tuple[int, int] | None = None

    @property
    def hw(self) -> tuple[int, int]:
        return int(self.pixels.shape[0]), int(self.pixels.shape[1])


def decoded_bytes_per_pixel(mode: str) -> int:
    """Bytes Pillow holds per pixel of ``mode`` once decoded (RGB is stored in 4)."""
    if mode in _ONE_BYTE_MODES:
        return 1
    return 2 if mode.startswith("I;16") else 4


def decode_image(
    data: bytes,
    *,
    max_pixels: int,
    name: str = "image",
    max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES,
    reduce_to: Callable[[tuple[int, int]], tuple[int, int]] | None = None,
) -> DecodedImage:
    """Decode ``data``; errors name the upload (``name``) and say what was wrong.

    ``reduce_to`` (fast decode) maps the upright size of the picture to the smallest size its
    pixels may be decoded at: a JPEG is then decoded at the largest DCT scale that covers it.
    """
    if not data:
        raise ImageDecodeError(f"{name}: the upload is empty")
    try:
        image = Image.open(io.BytesIO(data))
        _check_header(image, name, max_pixels, max_decoded_bytes)
        plain = decode_plain(data, image)
        if plain is not None:
            return DecodedImage(pixels=plain, format=str(image.format))
        shortfall = png_shortfall(data)
        if shortfall is not None:
            raise ImageDecodeError(f"{name}: not a decodable image: {shortfall}")
        jpeg = decode_jpeg(data, image, reduce_to)
        if jpeg is not None:
            pixels, full_hw = jpeg
            reduced = full_hw if pixels.shape[:2] != full_hw else None
            return DecodedImage(pixels=pixels, format=str(image.format), full_hw=reduced)
        image.seek(0)  # first frame of an animation
        image.load()
        upright, notice = _upright(image)
        pixels = _to_rgb(upright)
    except (ImageDecodeError, ImageTooLargeError):
        raise
    except UnidentifiedImageError:
        raise ImageDecodeError(
            f"{name}: not an image in a known format (JPEG, PNG, WebP, BMP, GIF or TIFF)"
        ) from None
    except (OSError, ValueError, SyntaxError, EOFError, ZeroDivisionError, IndexError) as error:
        # Pillow reports damaged files through all of these, depending on the format.
        raise ImageDecodeError(f"{name}: not a decodable image ({error})") from None
    return DecodedImage(pixels=pixels, format=str(image.format), notice=notice)


def _check_header(image: Image.Image, name: str, max_pixels: int, max_bytes: int) -> None:
    """Format, size, pixel count and decoded bytes, from the header alone."""
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
            f"{name}: {width}x{height} = {width * height} pixels is over the limit of {max_pixels}"
        )
    decoded = width * height * decoded_bytes_per_pixel(image.mode)
    if decoded > max_bytes:
        raise ImageTooLargeError(
            f"{name}: {width}x{height} in mode {image.mode} decodes to {decoded} bytes, over "
            f"the limit of {max_bytes} (VISION_MAX_DECODED_BYTES)"
        )


def _upright(image: Image.Image) -> tuple[Image.Image, str | None]:
    """``image`` turned by its EXIF orientation; unturned, with a notice, when the EXIF block
    cannot be read (Pillow raises TypeError, struct.error and more on malformed values)."""
    try:
        return ImageOps.exif_transpose(image), None
    except (TypeError, ValueError, KeyError, OSError, SyntaxError, struct.error, ZeroDivisionError):
        return image, EXIF_UNREADABLE


def _to_rgb(image: Image.Image) -> NDArray[np.uint8]:
    """Any mode to RGB; transparency is composited on white, as a viewer would show it."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        rgb = Image.alpha_composite(background, rgba).convert("RGB")
    elif image.mode in _HIGH_DEPTH:
        return _grey_to_rgb8(image)
    else:
        rgb = image.convert("RGB")
    return np.asarray(rgb, dtype=np.uint8)


def _grey_to_rgb8(image: Image.Image) -> NDArray[np.uint8]:
    """A 16-bit, 32-bit integer or float image scaled to 8 bits and repeated into RGB, a block
    of rows at a time: besides Pillow's decoded pixels, the only full-size array is the result
    (a 6300x6300 16-bit PNG used to pass through ~1.1 GB of float64 arrays). 16-bit values
    are looked up in ``SIXTEEN_TO_EIGHT``, the same arithmetic done once per value."""
    width, height = image.size
    sixteen = image.mode.startswith("I;16")
    peak = 65535.0 if sixteen else _peak(image)

    def eight_bit(top: int, bottom: int) -> NDArray[np.uint8]:
        block = np.asarray(image.crop((0, top, width, bottom)))
        return SIXTEEN_TO_EIGHT[block] if sixteen else to_eight(block, peak)

    return grey_rows_to_rgb(height, width, eight_bit)


def _peak(image: Image.Image) -> float:
    """Full scale of a 32-bit integer or float image: 16-bit when any value passes 255."""
    extrema = image.getextrema()  # (low, high) for a single-band image
    high = extrema[1] if isinstance(extrema[1], (int, float)) else 0
    return 65535.0 if float(high) > 255 else 255.0
