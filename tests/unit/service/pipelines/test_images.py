"""Decoding uploads: formats, modes, EXIF orientation, pixel limit, and clear refusals."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps, PngImagePlugin

from service.pipelines.images import ImageDecodeError, ImageTooLargeError, decode_image
from service.pipelines.opencv_decode import decode_plain
from tests.unit.service.pipelines.test_jpeg_decode import photo_like

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


# --- PNG and WebP: OpenCV's decode where it is used, today's (Pillow's) pixels everywhere ---


def todays_pixels(data: bytes) -> np.ndarray:
    """What the Pillow path gave before OpenCV: EXIF orientation, then transparency composited
    on white, 16-bit grey scaled with rounding, anything else Pillow's convert("RGB")."""
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
    if image.mode.startswith("I;16"):
        grey = np.floor(np.asarray(image).astype(np.float64) / 65535.0 * 255.0 + 0.5)
        return np.repeat(grey.astype(np.uint8)[:, :, np.newaxis], 3, axis=2)
    return np.asarray(image.convert("RGB"))


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def raw_png(rows: list[bytes], width: int, height: int, depth: int, colour: int,
            extra: bytes = b"", interlaced: bool = False) -> bytes:  # fmt: skip
    """A PNG from filtered scanlines (each starting with its filter byte), for the bit depths,
    colour types and interlacing Pillow does not write."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, int(interlaced))
    idat = zlib.compress(b"".join(rows))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + chunk(b"IDAT", idat)
        + chunk(b"IEND", b"")
    )  # fmt: skip


def packed_grey(levels: np.ndarray, depth: int) -> list[bytes]:
    """Rows of ``levels`` (each below 2**depth) packed at ``depth`` bits, filter byte 0."""
    rows = []
    for row in levels:
        bits = np.unpackbits(row.astype(np.uint8)[:, np.newaxis], axis=1)[:, 8 - depth :]
        rows.append(b"\0" + np.packbits(bits.reshape(-1)).tobytes())
    return rows


def adam7(pixels: np.ndarray) -> list[bytes]:
    """The seven interlace passes of 8-bit RGB ``pixels`` as unfiltered scanlines."""
    passes = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
              (0, 1, 1, 2))  # fmt: skip
    rows: list[bytes] = []
    for x0, y0, dx, dy in passes:
        sub = pixels[y0::dy, x0::dx]
        if sub.size:
            rows.extend(b"\0" + row.tobytes() for row in sub)
    return rows


def with_chunks(png: bytes, extra: bytes) -> bytes:
    """``png`` with ``extra`` chunks inserted right after IHDR."""
    return png[:33] + extra + png[33:]


PHOTO = np.asarray(photo_like(37, 53))
RGBA = np.dstack([PHOTO, np.asarray(photo_like(37, 53, seed=1))[:, :, 0]])
SRGB_EXTRAS = (
    chunk(b"sRGB", b"\0") + chunk(b"gAMA", struct.pack(">I", 45455))
    + chunk(b"cHRM", struct.pack(">8I", 31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000))
    + chunk(b"pHYs", struct.pack(">IIB", 2835, 2835, 1)) + chunk(b"tIME", bytes(7))
    + chunk(b"sBIT", b"\x05\x06\x05")
)  # fmt: skip


def opencv_pngs() -> dict[str, bytes]:
    """One PNG per class OpenCV decodes, built by Pillow where it can write them."""
    rgb = Image.fromarray(PHOTO)
    levels = (PHOTO[:, :, 0] // 64, PHOTO[:, :, 1] // 16)
    palette_alpha = bytes(range(0, 256, 16))
    grey16 = (PHOTO[:, :, 0].astype(">u2") * 257 + 7).astype(">u2")
    sixteen_rgb = PHOTO.astype(">u2") * 257 + np.arange(PHOTO.size).reshape(PHOTO.shape) % 251
    return {
        "rgb": encoded(rgb, "PNG"),
        "rgb-compressed-hard": encoded(rgb, "PNG", optimize=True),
        "rgb-colour-managed": with_chunks(encoded(rgb, "PNG"), SRGB_EXTRAS),
        "rgb-icc": encoded(
            rgb,
            "PNG",
            icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(),
        ),
        "rgb-interlaced": raw_png(adam7(PHOTO), 53, 37, 8, 2, interlaced=True),
        "rgb-16bit": raw_png(
            [b"\0" + r.astype(">u2").tobytes() for r in sixteen_rgb], 53, 37, 16, 2
        ),
        "rgb-transparent-colour": encoded(
            rgb, "PNG", transparency=tuple(int(v) for v in PHOTO[0, 0])
        ),
        "rgba": encoded(Image.fromarray(RGBA), "PNG"),
        "la": encoded(Image.fromarray(RGBA[:, :, 1::2].copy(), "LA"), "PNG"),
        "grey": encoded(rgb.convert("L"), "PNG"),
        "grey-1bit": encoded(rgb.convert("1"), "PNG"),
        "grey-2bit": raw_png(packed_grey(levels[0], 2), 53, 37, 2, 0),
        "grey-4bit": raw_png(packed_grey(levels[1], 4), 53, 37, 4, 0),
        "grey-16bit": raw_png([b"\0" + r.tobytes() for r in grey16], 53, 37, 16, 0),
        "palette": encoded(rgb.quantize(256), "PNG"),
        "palette-4bit": encoded(rgb.quantize(16), "PNG", bits=4),
        "palette-1bit": encoded(rgb.quantize(2), "PNG", bits=1),
        "palette-one-clear": encoded(rgb.quantize(16), "PNG", transparency=3),
        "palette-alpha": encoded(rgb.quantize(16), "PNG", transparency=palette_alpha),
        "palette-opaque-trns": encoded(rgb.quantize(16), "PNG", transparency=b"\xff" * 16),
    }


OPENCV_PNGS = opencv_pngs()


@pytest.mark.parametrize("data", OPENCV_PNGS.values(), ids=OPENCV_PNGS.keys())
def test_opencv_decodes_plain_pngs_to_todays_pixels(data: bytes) -> None:
    assert decode_plain(data, Image.open(io.BytesIO(data))) is not None, "expected OpenCV's path"
    decoded = decode_image(data, max_pixels=LIMIT)
    assert decoded.format == "PNG"
    np.testing.assert_array_equal(decoded.pixels, todays_pixels(data))


def pillow_only_pngs() -> dict[str, bytes]:
    """PNGs whose pixels or orientation OpenCV would not give as Pillow does."""
    rgb = Image.fromarray(PHOTO)
    exif = Image.Exif()
    exif[0x0112] = 6
    text = PngImagePlugin.PngInfo()
    text.add_text(
        "XML:com.adobe.xmp", '<x:xmpmeta><rdf:Description tiff:Orientation="3"/></x:xmpmeta>'
    )
    return {
        "exif-orientation": encoded(rgb, "PNG", exif=exif),
        "xmp-orientation": encoded(rgb, "PNG", pnginfo=text),
        "grey-transparent-level": encoded(
            rgb.convert("L"), "PNG", transparency=int(PHOTO[0, 0, 1])
        ),
        "rgba-16bit": raw_png(
            [b"\0" + (r.astype(">u2") * 257).tobytes() for r in RGBA], 53, 37, 16, 6
        ),
        "animated": encoded(rgb, "PNG", save_all=True, append_images=[rgb.rotate(90)]),
    }


PILLOW_ONLY_PNGS = pillow_only_pngs()


@pytest.mark.parametrize("data", PILLOW_ONLY_PNGS.values(), ids=PILLOW_ONLY_PNGS.keys())
def test_other_pngs_keep_pillows_path_and_pixels(data: bytes) -> None:
    assert decode_plain(data, Image.open(io.BytesIO(data))) is None
    np.testing.assert_array_equal(decode_image(data, max_pixels=LIMIT).pixels, todays_pixels(data))


def test_orientation_in_png_metadata_is_still_applied() -> None:
    decoded = decode_image(PILLOW_ONLY_PNGS["exif-orientation"], max_pixels=LIMIT)
    assert decoded.hw == (53, 37)  # turned a quarter: the stored picture is 37 high


@pytest.mark.parametrize("shape", [(256, 256), (1, 65536), (509, 131)], ids=str)
@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_compositing_on_white_matches_pillow_for_every_value_and_alpha(
    shape: tuple[int, int], mode: str
) -> None:
    """Every (value, alpha) pair, laid out at several widths (vector and tail code alike)."""
    alpha, value = (plane.reshape(-1) for plane in np.mgrid[0:256, 0:256].astype(np.uint8))
    channels = [value, 255 - value, value[::-1], alpha] if mode == "RGBA" else [value, alpha]
    count = shape[0] * shape[1]
    planes = np.resize(np.stack(channels, axis=-1), (count, len(channels)))
    data = encoded(Image.fromarray(planes.reshape(*shape, len(channels)), mode), "PNG")
    assert decode_plain(data, Image.open(io.BytesIO(data))) is not None
    np.testing.assert_array_equal(decode_image(data, max_pixels=LIMIT).pixels, todays_pixels(data))


@pytest.mark.parametrize("extra", [b"", chunk(b"tEXt", b"k\0v")], ids=["opencv", "pillow"])
def test_every_16_bit_grey_level_is_scaled_as_before(extra: bytes) -> None:
    levels = np.arange(65536, dtype=">u2").reshape(256, 256)
    data = raw_png([b"\0" + row.tobytes() for row in levels], 256, 256, 16, 0, extra=extra)
    opencv = decode_plain(data, Image.open(io.BytesIO(data))) is not None
    assert opencv == (not extra)
    pixels = decode_image(data, max_pixels=LIMIT).pixels
    expected = np.floor(np.arange(65536) / 65535.0 * 255.0 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(pixels, np.repeat(expected.reshape(256, 256, 1), 3, axis=2))


def webps() -> dict[str, tuple[bytes, bool]]:
    """WebP files and whether OpenCV decodes them."""
    photo = photo_like(61, 97)
    exif = Image.Exif()
    exif[0x0112] = 8
    lossy = encoded(photo, "WEBP", quality=90)
    return {
        "lossy-q90": (lossy, True),
        "lossy-q30-odd": (
            encoded(photo_like(33, 17, seed=3), "WEBP", quality=30),
            True,
        ),
        "lossy-q100": (encoded(photo, "WEBP", quality=100), True),
        "lossless": (encoded(photo, "WEBP", lossless=True), True),
        "alpha": (encoded(Image.fromarray(RGBA), "WEBP", quality=80), False),
        "exif-orientation": (encoded(photo, "WEBP", quality=90, exif=exif), False),
        "icc": (encoded(photo, "WEBP", icc_profile=b"\0" * 128), False),
        "trailing-bytes": (lossy + b"\0\0\0\0", False),
    }


WEBPS = webps()


@pytest.mark.parametrize(("data", "plain"), WEBPS.values(), ids=WEBPS.keys())
def test_webp_gives_todays_pixels_by_either_path(data: bytes, plain: bool) -> None:
    assert (decode_plain(data, Image.open(io.BytesIO(data))) is not None) == plain
    np.testing.assert_array_equal(decode_image(data, max_pixels=LIMIT).pixels, todays_pixels(data))


def test_a_png_whose_pixel_data_stops_short_is_refused_with_the_counts() -> None:
    rows = [b"\0" + bytes(12)] * 2  # 26 of the 52 bytes a 4x4 RGB picture needs
    data = raw_png(rows, 4, 4, 8, 2)
    with pytest.raises(ImageDecodeError) as refused:
        decode_image(data, max_pixels=LIMIT, name="image1")
    assert str(refused.value) == (
        "image1: not a decodable image: its pixel data ends after 26 of 52 bytes "
        "(truncated or damaged)"
    )


@pytest.mark.parametrize("keep", [0.2, 0.5, 0.9])
def test_a_png_cut_inside_its_pixel_data_is_refused_as_before(keep: float) -> None:
    data = OPENCV_PNGS["rgb"]
    with pytest.raises(
        ImageDecodeError, match=r"^image1: not a decodable image: its pixel data ends"
    ):
        decode_image(data[: int(len(data) * keep)], max_pixels=LIMIT, name="image1")


def test_a_png_cut_after_its_pixel_data_or_with_a_bad_idat_checksum_still_decodes() -> None:
    """libpng refuses both; the Pillow path accepted them and still does."""
    data = OPENCV_PNGS["rgb"]
    bad_crc = data[:-16] + bytes([data[-16] ^ 0xFF]) + data[-15:]  # IDAT's CRC, before IEND
    for variant in (data[:-6], bad_crc):
        assert decode_plain(variant, Image.open(io.BytesIO(variant))) is None
        np.testing.assert_array_equal(decode_image(variant, max_pixels=LIMIT).pixels, PHOTO)


def test_a_cut_webp_is_refused() -> None:
    data = WEBPS["lossy-q90"][0]
    with pytest.raises(ImageDecodeError, match=r"^image1: not a decodable image"):
        decode_image(data[: len(data) // 2], max_pixels=LIMIT, name="image1")
