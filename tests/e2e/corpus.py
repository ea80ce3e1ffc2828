"""Awkward uploads, each built in code: odd but valid images, broken files, bad requests.

Every :class:`Upload` says what a correct service answers: 200 for a valid oddity, else the
one 4xx that fits. Request bodies are built lazily (``build``) so collecting the tests costs
nothing and a streamed body is a fresh generator for each run.
"""

from __future__ import annotations

import base64
import io
import json
import os
import struct
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from PIL import Image

Request = dict[str, Any]  # keyword arguments for httpx.Client.request

# A 16 MiB body limit for the server under test; the 64 MB upload is four times past it.
MAX_BODY_BYTES = 16 * 1024 * 1024
BIG_BODY_BYTES = 64 * 1024 * 1024
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Upload:
    """One request and the answer it deserves.

    ``size`` is the upright (width, height) a 200 from /detect must report; ``problem`` the
    end of the problem ``type`` a 4xx must carry, where one kind of failure is the only right one.
    """

    id: str
    status: int
    build: Callable[[], Request]
    route: str = "/detect"
    method: str = "POST"
    size: tuple[int, int] | None = None
    problem: str | None = None


# ---------------------------------------------------------------- pictures


def picture(width: int = 96, height: int = 64) -> Image.Image:
    """A colourful RGB picture with structure (gradients and a block), seed-fixed."""
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack(
        [x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), (x + y) % 256], axis=-1
    ).astype(np.uint8)
    pixels[height // 4 : height // 2, width // 4 : width // 2] = (20, 200, 40)
    return Image.fromarray(pixels, mode="RGB")


def encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_chunk(kind: bytes, data: bytes, crc: int | None = None) -> bytes:
    checksum = zlib.crc32(kind + data) if crc is None else crc
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", checksum & 0xFFFFFFFF)


def png_raw(
    width: int, height: int, *, bit_depth: int = 8, colour_type: int = 2, idat: bytes = b""
) -> bytes:
    """A PNG written by hand, so its header may claim anything (30000x30000, zero width)."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", idat or zlib.compress(b"\x00"))
        + png_chunk(b"IEND", b"")
    )


def png_16bit_rgb(width: int = 40, height: int = 30) -> bytes:
    """16 bits per channel RGB, which Pillow can read but not write."""
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([x * 1600, y * 2100, (x * y) % 65536], axis=-1).astype(">u2")
    rows = b"".join(b"\x00" + pixels[row].tobytes() for row in range(height))
    return png_raw(width, height, bit_depth=16, colour_type=2, idat=zlib.compress(rows))


def png_bad_crc() -> bytes:
    """A real PNG whose IHDR checksum is wrong."""
    good = encode(picture(), "PNG")
    return good[:29] + bytes([good[29] ^ 0xFF]) + good[30:]


def gif_claiming(width: int, height: int) -> bytes:
    """A well-formed GIF whose screen and only frame claim ``width`` x ``height``.

    The pixel data is a few bytes: a decoder that trusted the header would allocate the lot.
    """
    screen = (
        b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00" * 3 + b"\xff" * 3
    )
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0)
    lzw = b"\x02" + b"\x02\x4c\x01" + b"\x00"  # min code size 2, one tiny sub-block, end
    return screen + frame + lzw + b"\x3b"


def jpeg_claiming(width: int, height: int) -> bytes:
    """A real JPEG with its SOF0 size patched: the header lies about the pixels that follow."""
    data = bytearray(encode(picture(16, 16), "JPEG", quality=80))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def animated_gif() -> bytes:
    """Two frames, red then blue: the service must use the first (red) one."""
    frames = [Image.new("RGB", (64, 48), colour) for colour in ((220, 20, 20), (20, 20, 220))]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def with_orientation(image: Image.Image, orientation: int, fmt: str = "JPEG") -> bytes:
    """``image`` saved with EXIF orientation ``orientation`` (pixels stored as given)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    options = {"quality": 95} if fmt == "JPEG" else {}
    return encode(image, fmt, exif=exif, **options)


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    return data[: int(len(data) * keep)]


def random_bytes(count: int = 4096) -> bytes:
    return np.random.default_rng(7).integers(0, 256, count, dtype=np.uint8).tobytes()


def streamed_zeros(total: int = BIG_BODY_BYTES, head: bytes = b"") -> Iterator[bytes]:
    """``total`` bytes sent in 1 MiB chunks of one buffer: the body is never built whole."""
    yield head
    chunk = bytes(_CHUNK)
    sent = len(head)
    while sent < total:
        piece = chunk[: min(_CHUNK, total - sent)]
        sent += len(piece)
        yield piece


# ---------------------------------------------------------------- requests


def multipart(
    data: bytes,
    filename: str = "upload.bin",
    media_type: str = "application/octet-stream",
    *,
    field_name: str = "image",
    params: Mapping[str, str] | None = None,
) -> Request:
    request: Request = {"files": {field_name: (filename, data, media_type)}}
    if params is not None:  # an empty ``params`` would make httpx drop the URL's own query
        request["params"] = dict(params)
    return request


def raw(body: bytes | str, content_type: str | None) -> Request:
    headers = {"content-type": content_type} if content_type else {}
    content = body.encode() if isinstance(body, str) else body
    return {"content": content, "headers": headers}


def json_body(payload: Any) -> Request:
    return raw(json.dumps(payload), "application/json")


def good_png() -> bytes:
    return encode(picture(), "PNG")


def with_params(**params: str) -> Callable[[], Request]:
    return lambda: multipart(good_png(), "ok.png", "image/png", params=params)


def _image_case(
    case_id: str, make: Callable[[], bytes], size: tuple[int, int], route: str = "/detect"
) -> Upload:
    return Upload(case_id, 200, lambda: multipart(make()), route=route, size=size)


def _mode(mode: str, fmt: str = "PNG", **options: Any) -> Callable[[], bytes]:
    return lambda: encode(picture().convert(mode), fmt, **options)


def _palette_with_transparency() -> bytes:
    image = picture().convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    return encode(image, "PNG", transparency=0)


def _grey16() -> bytes:
    ramp = (np.arange(96 * 64, dtype=np.uint16).reshape(64, 96) * 10).astype(np.uint16)
    return encode(Image.fromarray(ramp), "PNG")  # Pillow writes mode I;16 as 16-bit grey


def _multipart_duplicated() -> Request:
    png = good_png()
    return {
        "files": [("image", ("a.png", png, "image/png")), ("image", ("b.png", png, "image/png"))]
    }


def _multipart_text_field() -> Request:
    return {"data": {"image": "not a file"}, "files": {"other": ("x.txt", b"x", "text/plain")}}


def _multipart_garbage() -> Request:
    return raw(b"this is not multipart at all\r\n--xyz", "multipart/form-data; boundary=xyz")


def _multipart_unclosed() -> Request:
    body = (
        b'--xyz\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + good_png()[:100]
    )
    return raw(body, "multipart/form-data; boundary=xyz")


def _streamed(head: bytes, content_type: str, declare_length: bool) -> Callable[[], Request]:
    def build() -> Request:
        headers = {"content-type": content_type}
        if declare_length:
            headers["content-length"] = str(BIG_BODY_BYTES)
        return {"content": streamed_zeros(BIG_BODY_BYTES, head), "headers": headers}

    return build


_MULTIPART_HEAD = (
    b'--big\r\nContent-Disposition: form-data; name="image"; filename="big.png"\r\n'
    b"Content-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n"
)

IMAGE_SIZE = picture().size  # (width, height) of the corpus picture

UPLOADS: tuple[Upload, ...] = (
    # -- not images, or broken ones: 422 ------------------------------------------------------
    Upload("empty-file", 422, lambda: multipart(b""), problem="undecodable-image"),
    Upload("text-file", 422, lambda: multipart(b"hello, world\n" * 20, "notes.txt", "text/plain")),
    Upload(
        "html-file",
        422,
        lambda: multipart(b"<!doctype html><html><body><img src=x></body></html>", "a.html"),
    ),
    Upload("svg-file", 422, lambda: multipart(b'<svg xmlns="http://www.w3.org/2000/svg"/>')),
    Upload("pdf-header", 422, lambda: multipart(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")),
    Upload("ppm-not-accepted", 422, lambda: multipart(encode(picture(), "PPM"))),
    Upload("truncated-jpeg", 422, lambda: multipart(truncated(encode(picture(), "JPEG")))),
    Upload("truncated-png", 422, lambda: multipart(truncated(good_png()))),
    Upload("png-signature-only", 422, lambda: multipart(good_png()[:8])),
    Upload("png-bad-crc", 422, lambda: multipart(png_bad_crc())),
    Upload("random-bytes", 422, lambda: multipart(random_bytes())),
    Upload(
        "png-header-30000x30000",
        422,
        lambda: multipart(png_raw(30000, 30000)),
        problem="image-too-large",
    ),
    Upload(
        "gif-header-30000x30000",
        422,
        lambda: multipart(gif_claiming(30000, 30000)),
        problem="image-too-large",
    ),
    Upload(
        "jpeg-header-60000x60000",
        422,
        lambda: multipart(jpeg_claiming(60000, 60000)),
        problem="image-too-large",
    ),
    Upload("png-zero-width", 422, lambda: multipart(png_raw(0, 30))),
    # -- odd but valid images: 200 ------------------------------------------------------------
    _image_case("cmyk-jpeg", _mode("CMYK", "JPEG"), IMAGE_SIZE),
    _image_case("greyscale-jpeg", _mode("L", "JPEG"), IMAGE_SIZE),
    _image_case(
        "progressive-jpeg", lambda: encode(picture(), "JPEG", progressive=True), IMAGE_SIZE
    ),
    _image_case("png-16bit-grey", _grey16, IMAGE_SIZE),
    _image_case("png-16bit-rgb", png_16bit_rgb, (40, 30)),
    _image_case("png-1bit", _mode("1"), IMAGE_SIZE),
    _image_case("png-palette", _mode("P"), IMAGE_SIZE),
    _image_case("png-palette-transparency", _palette_with_transparency, IMAGE_SIZE),
    _image_case("png-rgba", _mode("RGBA"), IMAGE_SIZE),
    _image_case("png-la", _mode("LA"), IMAGE_SIZE),
    _image_case("gif-animated", animated_gif, (64, 48)),
    _image_case("bmp", lambda: encode(picture(), "BMP"), IMAGE_SIZE),
    _image_case("tiff", lambda: encode(picture(), "TIFF"), IMAGE_SIZE),
    _image_case(
        "tiff-16bit-grey", lambda: encode(Image.open(io.BytesIO(_grey16())), "TIFF"), IMAGE_SIZE
    ),
    _image_case("webp", lambda: encode(picture(), "WEBP", quality=80), IMAGE_SIZE),
    _image_case("webp-lossless-rgba", _mode("RGBA", "WEBP", lossless=True), IMAGE_SIZE),
    _image_case("1x1", lambda: encode(picture(1, 1), "PNG"), (1, 1)),
    _image_case("1x10000", lambda: encode(picture(1, 10000), "PNG"), (1, 10000)),
    _image_case("10000x1", lambda: encode(picture(10000, 1), "PNG"), (10000, 1)),
    _image_case("exif-orientation-6", lambda: with_orientation(picture(), 6), IMAGE_SIZE[::-1]),
    _image_case(
        "exif-orientation-3-png", lambda: with_orientation(picture(), 3, "PNG"), IMAGE_SIZE
    ),
    _image_case(
        "exif-orientation-out-of-range", lambda: with_orientation(picture(), 9), IMAGE_SIZE
    ),
    Upload(
        "png-named-jpg-sent-as-text",
        200,
        lambda: multipart(good_png(), "photo.jpg", "text/plain"),
        size=IMAGE_SIZE,
    ),
    # -- a few through /classify --------------------------------------------------------------
    _image_case("classify-cmyk-jpeg", _mode("CMYK", "JPEG"), IMAGE_SIZE, "/classify"),
    _image_case("classify-png-16bit-rgb", png_16bit_rgb, (40, 30), "/classify"),
    _image_case("classify-1x1", lambda: encode(picture(1, 1), "PNG"), (1, 1), "/classify"),
    _image_case("classify-gif-animated", animated_gif, (64, 48), "/classify"),
    Upload("classify-random-bytes", 422, lambda: multipart(random_bytes()), route="/classify"),
    Upload("classify-empty-file", 422, lambda: multipart(b""), route="/classify"),
    # -- body too large: 413 ------------------------------------------------------------------
    Upload(
        "64MB-chunked-multipart",
        413,
        _streamed(_MULTIPART_HEAD, "multipart/form-data; boundary=big", declare_length=False),
        problem="body-too-large",
    ),
    Upload(
        "64MB-declared-length-json",
        413,
        _streamed(b'{"image": "', "application/json", declare_length=True),
        problem="body-too-large",
    ),
    # -- malformed requests: 400 / 415 ----------------------------------------------------------
    Upload("no-body-no-content-type", 415, lambda: raw(b"", None)),
    Upload("text-plain-body", 415, lambda: raw(good_png(), "text/plain")),
    Upload("application-xml-body", 415, lambda: raw("<image>AAAA</image>", "application/xml")),
    Upload("raw-image-jpeg-body", 415, lambda: raw(encode(picture(), "JPEG"), "image/jpeg")),
    Upload(
        "wrong-field-name",
        400,
        lambda: multipart(good_png(), "a.png", "image/png", field_name="file"),
    ),
    Upload("image-as-text-field", 400, _multipart_text_field),
    Upload("duplicated-image-field", 400, _multipart_duplicated),
    Upload("multipart-without-boundary", 400, lambda: raw(good_png(), "multipart/form-data")),
    Upload("multipart-garbage", 400, _multipart_garbage),
    Upload("multipart-unclosed", 400, _multipart_unclosed),
    Upload("empty-json", 400, lambda: raw(b"", "application/json")),
    Upload("malformed-json", 400, lambda: raw('{"image": "abc"', "application/json")),
    Upload("json-not-utf8", 400, lambda: raw(b'{"image": "\xff\xfe"}', "application/json")),
    Upload("json-array", 400, lambda: json_body([base64.b64encode(good_png()).decode()])),
    Upload("json-image-is-a-number", 400, lambda: json_body({"image": 12345})),
    Upload("json-wrong-key", 400, lambda: json_body({"picture": "AAAA"})),
    Upload("bad-base64", 400, lambda: json_body({"image": "!!!not*base64***"})),
    Upload("data-url-without-base64", 400, lambda: json_body({"image": "data:image/png,AAAA"})),
    Upload(
        "base64-of-text",
        422,
        lambda: json_body({"image": base64.b64encode(b"just some text").decode()}),
    ),
    # -- parameters: 422 / 404 ------------------------------------------------------------------
    Upload("confidence=2", 422, with_params(confidence="2")),
    Upload("confidence=abc", 422, with_params(confidence="abc")),
    Upload("confidence=nan", 422, with_params(confidence="nan")),
    Upload("iou=-1", 422, with_params(iou="-1")),
    Upload("max_detections=0", 422, with_params(max_detections="0")),
    Upload("max_detections=1.5", 422, with_params(max_detections="1.5")),
    Upload("format=pdf", 422, with_params(format="pdf")),
    Upload("classes=unicorn", 422, with_params(classes="unicorn")),
    Upload("classes=999", 422, with_params(classes="999")),
    Upload("classes=empty-entry", 422, with_params(classes="person,,bus")),
    Upload("classify-top_k=0", 422, with_params(top_k="0"), route="/classify"),
    Upload("classify-top_k=abc", 422, with_params(top_k="abc"), route="/classify"),
    Upload("model=empty", 422, with_params(model="")),
    Upload("model=unknown", 404, with_params(model="no-such-model"), problem="unknown-model"),
    Upload(
        "model=../../etc/passwd",
        404,
        with_params(model="../../etc/passwd"),
        problem="unknown-model",
    ),
    Upload(
        "model=%2e%2e%2f-literal",
        404,
        with_params(model="%2e%2e%2f"),
        problem="unknown-model",
    ),
    Upload(
        "model=%2e%2e%2f-decoded",
        404,
        lambda: multipart(good_png()),
        route="/detect?model=%2e%2e%2fyolox_nano",
        problem="unknown-model",
    ),
    Upload(
        "model-of-another-task",
        404,
        with_params(model="mobilenetv2_float32"),
        problem="unknown-model",
    ),
    Upload("model=absolute-path", 404, with_params(model=os.sep + "etc" + os.sep + "passwd")),
    # -- routing ----------------------------------------------------------------------------------
    Upload("get-detect", 405, lambda: {}, method="GET"),
    Upload("post-to-unknown-route", 404, lambda: multipart(good_png()), route="/detekt"),
)

# The same uploads sent to /recognize-face: every one that is about the image or the body (not
# a /detect parameter or route) deserves the same answer there; a valid oddity holds no face.
FACE_UPLOADS = tuple(
    replace(upload, id=f"recognize-{upload.id}", route="/recognize-face")
    for upload in UPLOADS
    if upload.route == "/detect" and upload.method == "POST" and "=" not in upload.id
    and not upload.id.startswith("model-")
)  # fmt: skip
