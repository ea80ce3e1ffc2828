"""PNG and WebP decoding by OpenCV where it gives exactly the Pillow path's pixels, faster.

On ul_bus.jpg re-encoded (810x1080, bench/preprocess.py) the Pillow path spent 34 ms on a PNG:
Pillow's 21 ms decode plus 12 ms inflating the IDAT stream a second time in ``png_shortfall``.
libpng (inside ``cv2.imdecode``) refuses a stream that ends before the last row ("Not enough
image data") instead of filling the rest with zeros, so a PNG it decodes needs no such check,
and every file it refuses takes the Pillow path, which says why in the service's words as
before (libpng also prints its reason on stderr). A WebP is decoded by the same libwebp
(default options, fancy upsampling), 16-17 ms against Pillow's 19-20 ms on that picture.

Only files whose pixels and orientation both decoders agree on take this path (the tests
compare each class with the Pillow path):

* PNG: 8-bit colour, grey or palette (grey also at 1, 2 and 4 bits), 16-bit RGB (both keep the
  high byte) and 16-bit grey (scaled to 8 bits by ``SIXTEEN_TO_EIGHT``, as on the Pillow
  path), whose chunks are all in ``_PLAIN_CHUNKS``: no text, XMP or eXIf (so no EXIF
  orientation, which Pillow may find in any of them) and no animation. Transparency (an alpha
  channel, or a tRNS chunk on RGB or palette pictures) is composited on white with OpenCV's
  arithmetic, which matches Pillow's ``alpha_composite`` on every (value, alpha) pair.
  16-bit alpha and tRNS on grey (which OpenCV drops) or on 16-bit RGB stay with Pillow.
* WebP: a simple lossy (``VP8 ``) or lossless (``VP8L``) file without alpha whose RIFF and
  chunk sizes match its length exactly, so there is no EXIF, ICC profile, animation or
  truncation to tell apart; the extended format (``VP8X``) stays with Pillow.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, Literal

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from service.pipelines.high_depth import SIXTEEN_TO_EIGHT, grey_rows_to_rgb
from service.pipelines.png_data import png_chunks

# Chunks that change neither Pillow's pixels nor its orientation (nor libpng's output: no
# transform is asked for, so gAMA, cHRM, sRGB, iCCP and sBIT are only carried along).
_PLAIN_CHUNKS = frozenset(
    {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"pHYs", b"gAMA", b"cHRM", b"sRGB", b"iCCP",
     b"sBIT", b"tIME"}
)  # fmt: skip
# (IHDR colour type, bit depth) -> Pillow's mode for it, as the PNG plugin reads it.
_PNG_MODES = {
    (0, 1): "1", (0, 2): "L", (0, 4): "L", (0, 8): "L",
    (0, 16): "I;16", (2, 8): "RGB", (2, 16): "RGB",
    (3, 1): "P", (3, 2): "P", (3, 4): "P", (3, 8): "P",
    (4, 8): "LA", (6, 8): "RGBA",
}  # fmt: skip
# Palettes and 8-bit RGB, whose tRNS chunk OpenCV turns into alpha as Pillow does (Pillow
# compares a 16-bit RGB key with its 8-bit pixels, libpng with the 16-bit samples).
_KEYED = frozenset({(3, 1), (3, 2), (3, 4), (3, 8), (2, 8)})
_WEBP_BITSTREAMS = frozenset({b"VP8 ", b"VP8L"})
Kind = Literal["rgb", "alpha", "grey16"]  # what OpenCV decodes a file to: RGB, BGRA, grey
_RGB = cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION


def decode_plain(data: bytes, image: Image.Image) -> NDArray[np.uint8] | None:
    """RGB pixels of the PNG or WebP ``data`` (``image``: Pillow's lazily opened header of it),
    or None where only the Pillow path gives today's answer, refusals included."""
    if image.format == "PNG":
        kind = _png_kind(data, image)
    elif image.format == "WEBP":
        kind = "rgb" if _plain_webp(data, image) else None
    else:
        return None
    if kind is None:
        return None
    try:
        pixels = cv2.imdecode(
            np.frombuffer(data, np.uint8), _RGB if kind == "rgb" else cv2.IMREAD_UNCHANGED
        )
    except cv2.error:
        return None
    width, height = image.size
    shape, dtype, finish = _KINDS[kind]
    if pixels is None or pixels.shape != (height, width, *shape) or pixels.dtype != dtype:
        return None
    return finish(np.asarray(pixels))


def _png_kind(data: bytes, image: Image.Image) -> Kind | None:
    """What OpenCV's decode of this PNG will hold (RGB, BGRA or 16-bit grey), or None when the
    file is not one it decodes as Pillow does."""
    if data[12:16] != b"IHDR":
        return None
    depth, colour = data[24], data[25]
    if _PNG_MODES.get((colour, depth)) != image.mode:
        return None
    kinds = {kind for kind, _ in png_chunks(data)}
    if not kinds <= _PLAIN_CHUNKS:
        return None
    if b"tRNS" in kinds:
        if (colour, depth) not in _KEYED or "transparency" not in image.info:
            return None  # OpenCV ignores a grey tRNS, Pillow an opaque or misplaced one
        return "alpha"
    if depth == 16 and colour == 0:
        return "grey16"
    return "alpha" if colour in (4, 6) else "rgb"


def _plain_webp(data: bytes, image: Image.Image) -> bool:
    """A simple lossy or lossless WebP without alpha, whose sizes account for every byte."""
    if image.mode != "RGB" or len(data) < 20 or data[12:16] not in _WEBP_BITSTREAMS:
        return False
    (riff_size,) = struct.unpack("<I", data[4:8])
    (chunk_size,) = struct.unpack("<I", data[16:20])
    return bool(riff_size + 8 == len(data) == 20 + chunk_size + (chunk_size & 1))


def _bgra_on_white(bgra: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """OpenCV's BGRA composited on opaque white into RGB: ``value * alpha / 255`` rounded, plus
    ``255 - alpha``, which is what Pillow's ``alpha_composite`` gives for every (value, alpha)
    pair (the tests compare all 65,536), at half its time."""
    rgb = cv2.cvtColor(bgra, cv2.COLOR_BGRA2RGB)
    alpha = cv2.cvtColor(np.ascontiguousarray(bgra[:, :, 3]), cv2.COLOR_GRAY2RGB)
    cv2.multiply(rgb, alpha, dst=rgb, scale=1 / 255)  # in place: two planes, not four
    cv2.add(rgb, cv2.bitwise_not(alpha, dst=alpha), dst=rgb)
    return np.asarray(rgb, dtype=np.uint8)


def _grey16_to_rgb(grey: NDArray[np.uint16]) -> NDArray[np.uint8]:
    """16-bit grey scaled as the Pillow path scales it, repeated into RGB."""
    height, width = grey.shape
    return grey_rows_to_rgb(height, width, lambda top, bottom: SIXTEEN_TO_EIGHT[grey[top:bottom]])


# What imdecode gives for each kind (channels, dtype) and how it becomes RGB uint8.
_KINDS: dict[Kind, tuple[tuple[int, ...], type[np.generic], Callable[[Any], NDArray[np.uint8]]]] = {
    "rgb": ((3,), np.uint8, lambda rgb: rgb),
    "alpha": ((4,), np.uint8, _bgra_on_white),
    "grey16": ((), np.uint16, _grey16_to_rgb),
}
