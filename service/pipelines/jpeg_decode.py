"""JPEG decoding with libjpeg-turbo straight into numpy where it gives exactly Pillow's pixels.

``simplejpeg`` (libjpeg-turbo with its defaults, islow DCT and fancy upsampling, as Pillow and
OpenCV use it) was 2.5x Pillow on ``ul_bus.jpg`` and 1.6x OpenCV's ``imdecode`` on a 12 MP
photo (bench/preprocess.py), with the same pixels on every shared photo. It is used only where that holds and nothing is lost: a complete baseline or
progressive JPEG in RGB or greyscale (or the first picture of an MPO, as phones write them with
a depth or gain map after it), whose EXIF Pillow reads without complaint. Anything else (CMYK, a
file that does not end with the JPEG end marker, so possibly truncated, which OpenCV would fill
with grey instead of refusing) returns None and takes the Pillow path. The EXIF orientation is
read by Pillow from the header and applied with OpenCV, as ``ImageOps.exif_transpose`` would;
OpenCV's own EXIF handling is switched off.

``reduce_to`` asks for a decode at a reduced DCT scale (1/2, 1/4 or 1/8, the largest whose
result still covers the size it gives), by OpenCV: libjpeg skips most of the work, and the
pixels are no longer the full decode's (VISION_FAST_DECODE).
"""

from __future__ import annotations

import io
from collections.abc import Callable

import cv2
import numpy as np
import simplejpeg
from cv2.typing import MatLike
from numpy.typing import NDArray
from PIL import Image

Size = tuple[int, int]
_ORIENTATION = 0x0112
_EOI = b"\xff\xd9"
_FORMATS = frozenset({"JPEG", "MPO"})
_MODES = frozenset({"RGB", "L"})
# EXIF orientation -> how to turn the stored pixels upright (ImageOps.exif_transpose's table).
_UPRIGHT: dict[int, Callable[[MatLike], MatLike]] = {
    2: lambda a: cv2.flip(a, 1),
    3: lambda a: cv2.rotate(a, cv2.ROTATE_180),
    4: lambda a: cv2.flip(a, 0),
    5: cv2.transpose,
    6: lambda a: cv2.rotate(a, cv2.ROTATE_90_CLOCKWISE),
    7: lambda a: cv2.flip(cv2.transpose(a), -1),
    8: lambda a: cv2.rotate(a, cv2.ROTATE_90_COUNTERCLOCKWISE),
}
_TRANSPOSED = frozenset({5, 6, 7, 8})  # orientations that swap height and width
_REDUCED = ((8, cv2.IMREAD_REDUCED_GRAYSCALE_8), (4, cv2.IMREAD_REDUCED_GRAYSCALE_4),
            (2, cv2.IMREAD_REDUCED_GRAYSCALE_2))  # fmt: skip


def decode_jpeg(
    data: bytes, image: Image.Image, reduce_to: Callable[[Size], Size] | None = None
) -> tuple[NDArray[np.uint8], Size] | None:
    """Upright RGB pixels of the JPEG ``data`` (``image``: Pillow's lazily opened header of
    it) and the upright size of the full picture, or None where only Pillow's path gives
    today's answer."""
    if image.format not in _FORMATS or image.mode not in _MODES or not data.endswith(_EOI):
        return None
    orientation = _orientation(data)
    if orientation is None:
        return None
    width, height = image.size
    upright_hw = (width, height) if orientation in _TRANSPOSED else (height, width)
    reduce_flag = _reduction(upright_hw, reduce_to(upright_hw)) if reduce_to else 0
    pixels = _decoded(data, reduce_flag)
    if pixels is None:
        return None  # OpenCV could not decode it: Pillow says why, in the service's words
    turn = _UPRIGHT.get(orientation)
    upright = np.asarray(pixels if turn is None else turn(pixels), dtype=np.uint8)
    return upright, upright_hw


def _decoded(data: bytes, reduce_flag: int) -> MatLike | None:
    """The stored RGB pixels, in full or at OpenCV's ``reduce_flag`` scale; None where the
    decoder refuses (strict: libjpeg's warnings too, e.g. corrupt data it would patch over)."""
    if not reduce_flag:
        try:
            pixels: NDArray[np.uint8] = simplejpeg.decode_jpeg(data, colorspace="RGB")
            return pixels
        except ValueError:
            return None
    flags = cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION | reduce_flag
    try:
        return cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error:
        return None


def _orientation(data: bytes) -> int | None:
    """The EXIF orientation (1 when absent), or None when ``ImageOps.exif_transpose`` could
    fail on this EXIF block: the Pillow path then answers unrotated, with its notice. A header
    of its own is opened because the probe edits the EXIF that Pillow caches on an image."""
    try:
        exif = Image.open(io.BytesIO(data)).getexif()
        orientation = exif.get(_ORIENTATION, 1)
        if orientation not in _UPRIGHT:
            return 1
        del exif[_ORIENTATION]
        exif.tobytes()  # as exif_transpose rewrites the block without the orientation
        return int(orientation)
    except Exception:  # any failure here is the Pillow path's to report
        return None


def _reduction(full_hw: Size, needed_hw: Size) -> int:
    """The imdecode flag of the largest DCT scale whose decode of a ``full_hw`` picture still
    covers ``needed_hw`` (libjpeg rounds the reduced size up); 0, a full decode, when none does."""
    height, width = full_hw
    for factor, flag in _REDUCED:
        if -(-height // factor) >= needed_hw[0] and -(-width // factor) >= needed_hw[1]:
            return flag
    return 0
