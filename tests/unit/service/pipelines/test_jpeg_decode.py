"""libjpeg-turbo's JPEG decode: Pillow's pixels exactly where it is used, Pillow's path
elsewhere, and the reduced-scale (fast) decode keeping the full picture's size."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image, ImageOps

from service.pipelines.images import EXIF_UNREADABLE, ImageDecodeError, decode_image
from service.pipelines.jpeg_decode import decode_jpeg

LIMIT = 50_000_000


def photo_like(height: int, width: int, seed: int = 0) -> Image.Image:
    """Smooth gradients with noise: JPEG keeps detail, so a decoder difference would show."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // max(width, 1), y * 255 // max(height, 1), (x + y) % 256], axis=-1)
    noisy = base + rng.integers(-40, 40, base.shape)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def jpeg(image: Image.Image, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **options)
    return buffer.getvalue()


def pillow_pixels(data: bytes) -> np.ndarray:
    """What the service decoded with before libjpeg-turbo direct: Pillow, exif_transpose, convert("RGB")."""
    return np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))


def turbo_pixels(data: bytes) -> np.ndarray:
    decoded = decode_jpeg(data, Image.open(io.BytesIO(data)))
    assert decoded is not None, "expected the libjpeg-turbo path"
    return decoded[0]


@pytest.mark.parametrize(
    "options",
    [
        {"quality": 92},  # 4:2:0
        {"quality": 95, "subsampling": 0},  # 4:4:4
        {"quality": 75, "subsampling": 1},  # 4:2:2
        {"quality": 90, "progressive": True},
        {"quality": 50, "optimize": True},
    ],
    ids=["420", "444", "422", "progressive", "optimized"],
)
@pytest.mark.parametrize("size", [(61, 97), (480, 640)], ids=["odd", "vga"])
def test_libjpeg_turbo_gives_pillows_pixels(options: dict[str, object], size: tuple[int, int]) -> None:
    data = jpeg(photo_like(*size), **options)
    np.testing.assert_array_equal(turbo_pixels(data), pillow_pixels(data))
    np.testing.assert_array_equal(decode_image(data, max_pixels=LIMIT).pixels, pillow_pixels(data))


def test_a_greyscale_jpeg_is_repeated_into_rgb_as_pillow_does() -> None:
    data = jpeg(photo_like(50, 70).convert("L"), quality=90)
    pixels = turbo_pixels(data)
    assert pixels.shape == (50, 70, 3)
    np.testing.assert_array_equal(pixels, pillow_pixels(data))


def test_an_mpo_gives_its_first_picture_as_pillow_does() -> None:
    """Phones append a depth or gain map as a second picture (Pillow calls the file MPO)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    photo_like(60, 80).save(
        buffer, "MPO", save_all=True, append_images=[photo_like(20, 30, seed=1)], exif=exif
    )
    data = buffer.getvalue()
    assert Image.open(io.BytesIO(data)).format == "MPO"
    np.testing.assert_array_equal(turbo_pixels(data), pillow_pixels(data))
    assert decode_image(data, max_pixels=LIMIT).format == "MPO"


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_turns_as_exif_transpose(orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = jpeg(photo_like(40, 64), quality=95, exif=exif)
    pixels = turbo_pixels(data)
    np.testing.assert_array_equal(pixels, pillow_pixels(data))
    assert pixels.shape[:2] == ((64, 40) if orientation >= 5 else (40, 64))


def malformed_exif() -> bytes:
    """Orientation 6 beside XPosition (a RATIONAL) holding ASCII: exif_transpose raises
    rewriting it (the upload of tests/e2e/test_hostile.py)."""
    entries = [
        struct.pack("<HHII", 0x0112, 3, 1, 6),
        struct.pack("<HHI4s", 0x011F, 2, 3, b"ab\0\0"),
    ]
    ifd = struct.pack("<H", len(entries)) + b"".join(entries) + struct.pack("<I", 0)
    return b"Exif\0\0II*\0" + struct.pack("<I", 8) + ifd


@pytest.mark.parametrize(
    ("image", "data_of"),
    [
        (Image.new("CMYK", (16, 8), (0, 255, 255, 0)), jpeg),
        (photo_like(16, 8), lambda image: jpeg(image)[:-40]),  # truncated: no end marker
    ],
    ids=["cmyk", "truncated"],
)
def test_what_libjpeg_turbo_would_answer_differently_takes_pillows_path(
    image: Image.Image, data_of: object
) -> None:
    data = data_of(image)  # type: ignore[operator]
    assert decode_jpeg(data, Image.open(io.BytesIO(data))) is None


def test_a_truncated_jpeg_is_still_refused() -> None:
    data = jpeg(photo_like(64, 64))[:-200]
    with pytest.raises(ImageDecodeError, match="not a decodable image"):
        decode_image(data, max_pixels=LIMIT)


def test_unreadable_exif_takes_pillows_path_with_its_notice() -> None:
    data = jpeg(photo_like(20, 30), exif=malformed_exif())
    assert decode_jpeg(data, Image.open(io.BytesIO(data))) is None
    decoded = decode_image(data, max_pixels=LIMIT)
    assert decoded.notice == EXIF_UNREADABLE
    assert decoded.hw == (20, 30)  # not rotated


@pytest.mark.parametrize(
    ("needed_hw", "decoded_hw"),
    [((150, 200), (151, 201)), ((152, 200), (301, 401)), ((302, 401), (602, 801)), ((900, 10), (1203, 1601))],
)  # fmt: skip
def test_the_largest_dct_scale_that_still_covers_the_need(
    needed_hw: tuple[int, int], decoded_hw: tuple[int, int]
) -> None:
    """1203x1601 at 1/8, 1/4, 1/2 is 151x201, 301x401, 602x801 (libjpeg rounds up)."""
    data = jpeg(photo_like(1203, 1601), quality=90)
    decoded = decode_image(data, max_pixels=LIMIT, reduce_to=lambda _: needed_hw)
    assert decoded.hw == decoded_hw
    assert decoded.full_hw == (None if decoded_hw == (1203, 1601) else (1203, 1601))


def test_a_reduced_decode_is_a_shrunk_picture_in_the_upright_orientation() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 800 wide, 400 high; upright 400 wide, 800 high
    data = jpeg(photo_like(400, 800), quality=95, exif=exif)
    asked: list[tuple[int, int]] = []

    def need(full_hw: tuple[int, int]) -> tuple[int, int]:
        asked.append(full_hw)
        return (100, 50)

    decoded = decode_image(data, max_pixels=LIMIT, reduce_to=need)
    assert asked == [(800, 400)]
    assert decoded.full_hw == (800, 400) and decoded.hw == (100, 50)
    full = pillow_pixels(data).astype(np.float64)
    shrunk = full.reshape(100, 8, 50, 8, 3).mean(axis=(1, 3))  # 8x8 block means
    assert np.abs(decoded.pixels - shrunk).mean() < 4  # the same picture, not the same pixels


def test_without_reduce_to_nothing_is_reduced() -> None:
    decoded = decode_image(jpeg(photo_like(1203, 1601)), max_pixels=LIMIT)
    assert decoded.hw == (1203, 1601) and decoded.full_hw is None
