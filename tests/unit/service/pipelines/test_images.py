"""Decoding uploads: formats, modes, EXIF orientation, pixel limit, and clear refusals."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from service.pipelines.images import ImageDecodeError, ImageTooLargeError, decode_image

LIMIT = 10_000_000


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_header_claiming(width: int, height: int) -> bytes:
    """A PNG signature and IHDR announcing a size, with no pixel data behind it."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


def test_exif_orientation_is_applied_before_anything_else() -> None:
    upright = Image.new("RGB", (40, 20), (255, 0, 0))
    upright.paste((0, 0, 255), (0, 0, 10, 20))  # blue strip on the left
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what a camera held sideways stores
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    decoded = decode_image(encoded(stored, "JPEG", exif=exif, quality=95), max_pixels=LIMIT)
    assert decoded.hw == (20, 40)
    assert decoded.pixels[10, 2, 2] > 200 and decoded.pixels[10, 2, 0] < 60  # blue on the left


@pytest.mark.parametrize(
    ("image", "fmt"),
    [
        (Image.new("CMYK", (8, 6), (0, 255, 255, 0)), "JPEG"),
        (Image.new("I;16", (8, 6), 65535), "PNG"),
        (Image.new("1", (8, 6), 1), "PNG"),
        (Image.new("P", (8, 6), 3), "PNG"),
        (Image.new("LA", (8, 6), (10, 0)), "PNG"),
        (Image.new("RGB", (8, 6)), "BMP"),
        (Image.new("RGB", (8, 6)), "TIFF"),
        (Image.new("RGB", (8, 6)), "WEBP"),
        (Image.new("RGB", (8, 6)), "GIF"),
    ],
    ids=[
        "cmyk-jpeg",
        "16bit-png",
        "1bit-png",
        "palette-png",
        "la-png",
        "bmp",
        "tiff",
        "webp",
        "gif",
    ],
)
def test_every_mode_becomes_rgb_uint8(image: Image.Image, fmt: str) -> None:
    decoded = decode_image(encoded(image, fmt), max_pixels=LIMIT)
    assert decoded.pixels.shape == (6, 8, 3)
    assert decoded.pixels.dtype == np.uint8


def test_transparency_is_composited_on_white_and_16_bit_is_scaled() -> None:
    clear = decode_image(encoded(Image.new("RGBA", (4, 4), (0, 0, 0, 0)), "PNG"), max_pixels=LIMIT)
    assert (clear.pixels == 255).all()
    white16 = decode_image(encoded(Image.new("I;16", (4, 4), 65535), "PNG"), max_pixels=LIMIT)
    assert (white16.pixels == 255).all()


def test_an_animated_gif_gives_its_first_frame() -> None:
    frames = [Image.new("RGB", (6, 6), (255, 0, 0)), Image.new("RGB", (6, 6), (0, 0, 255))]
    data = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:])
    first = decode_image(data, max_pixels=LIMIT).pixels
    assert first[0, 0, 0] > 200 and first[0, 0, 2] < 50


def test_the_pixel_limit_is_checked_from_the_header() -> None:
    with pytest.raises(ImageTooLargeError, match="30000x30000 = 900000000 pixels"):
        decode_image(png_header_claiming(30000, 30000), max_pixels=LIMIT)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"hello, this is text", "not an image in a known format"),
        (encoded(Image.new("RGB", (64, 64)), "JPEG")[:200], "not a decodable image"),
        (encoded(Image.new("RGB", (64, 64)), "PNG")[:60], "not a decodable image"),
        (png_header_claiming(0, 10), "not an image in a known format|decodable|no pixels"),
        (encoded(Image.new("RGB", (8, 8)), "PDF"), "not an image in a known format|not accepted"),
    ],
    ids=["empty", "text", "truncated-jpeg", "truncated-png", "zero-width", "pdf"],
)
def test_bad_bytes_are_refused_naming_the_upload(data: bytes, message: str) -> None:
    with pytest.raises(ImageDecodeError, match=message) as refused:
        decode_image(data, max_pixels=LIMIT, name="image1")
    assert str(refused.value).startswith("image1: ")
    assert "BytesIO" not in str(refused.value)
