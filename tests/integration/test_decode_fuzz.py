"""Byte mutations of the real photos through ``decode_image``: every outcome is a picture or one
of its two refusals (422s), never another exception (a 500). Hypothesis drives the mutations;
the case count is fixed so CI time is bounded (~20 s on 2 cores)."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from service.pipelines.images import ImageDecodeError, ImageTooLargeError, decode_image

PHOTOS = ("ul_bus.jpg", "chelsea.png", "fr_obama1.jpg", "coffee.jpg")
CASES = 400
MAX_PIXELS = 4_000_000


def _small_seeds(images_dir: Path) -> list[bytes]:
    """Each photo shrunk (so a case decodes in milliseconds) and saved as JPEG (with EXIF
    orientation), PNG, WebP, TIFF, BMP and GIF: every decoder gets mutated input."""
    seeds: list[bytes] = []
    exif = Image.Exif()
    exif[0x0112] = 6
    for name in PHOTOS:
        with Image.open(images_dir / name) as photo:
            small = photo.convert("RGB").resize((48, 36))
        for fmt, options in (
            ("JPEG", {"exif": exif}),
            ("PNG", {}),
            ("WEBP", {"exif": exif}),
            ("TIFF", {}),
            ("BMP", {}),
            ("GIF", {}),
        ):
            buffer = io.BytesIO()
            small.save(buffer, fmt, **options)
            seeds.append(buffer.getvalue())
        for tags in (_RATIONAL_TAGS, _ASCII_IN_RATIONAL):
            seeds.append(_with_raw_exif(small, tags))
    return seeds


# IFD entries (tag, type, count, value): orientation 6 and a rational tag, well-formed, and the
# same with ASCII where the rational belongs (a camera bug Pillow's exif_transpose choked on).
_RATIONAL_TAGS = ((0x0112, 3, 1, b"\x06\0\0\0"), (0x011F, 5, 1, b"\x1a\0\0\0"))
_ASCII_IN_RATIONAL = ((0x0112, 3, 1, b"\x06\0\0\0"), (0x011F, 2, 3, b"ab\0\0"))


def _with_raw_exif(image: Image.Image, tags: tuple[tuple[int, int, int, bytes], ...]) -> bytes:
    """``image`` as JPEG with a hand-written little-endian EXIF block (rationals at offset 26)."""
    entries = b"".join(struct.pack("<HHI4s", *tag) for tag in tags)
    ifd = struct.pack("<H", len(tags)) + entries + struct.pack("<I", 0)
    block = b"II*\0" + struct.pack("<I", 8) + ifd + struct.pack("<II", 72, 1)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=b"Exif\0\0" + block)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def seeds(images_dir: Path) -> list[bytes]:
    return _small_seeds(images_dir)


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A seed with a few bytes overwritten, a run deleted or repeated, or its tail cut."""
    data = bytearray(seeds[draw(st.integers(0, len(seeds) - 1))])
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        kind = draw(st.sampled_from(("set", "delete", "repeat", "cut")))
        at = draw(st.integers(0, len(data) - 1))
        if kind == "set":
            data[at] = draw(st.integers(0, 255))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif kind == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 16))]
        else:
            del data[at:]
    return bytes(data)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns on damaged TIFF tags
def test_mutated_photos_decode_or_are_refused(seeds: list[bytes]) -> None:
    @settings(
        max_examples=CASES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(mutated(seeds))
    def decode(data: bytes) -> None:
        try:
            decoded = decode_image(data, max_pixels=MAX_PIXELS)
        except (ImageDecodeError, ImageTooLargeError):
            return
        assert decoded.pixels.ndim == 3 and decoded.pixels.shape[2] == 3

    decode()
