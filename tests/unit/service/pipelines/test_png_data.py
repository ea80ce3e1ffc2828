"""The PNG chunk walk and the truncation check made before Pillow decodes pixel data."""

from __future__ import annotations

import struct
import zlib

from service.pipelines.png_data import png_chunks, png_shortfall

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(idat_bodies: list[bytes], width: int = 4, height: int = 4) -> bytes:
    """An 8-bit RGB PNG with the given IDAT bodies and a text chunk between them and IEND."""
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    idats = b"".join(chunk(b"IDAT", body) for body in idat_bodies)
    return SIGNATURE + ihdr + idats + chunk(b"tEXt", b"a\0b") + chunk(b"IEND", b"")


def test_chunks_come_in_file_order_and_stop_at_iend() -> None:
    data = png([b"one", b"two"]) + chunk(b"tEXt", b"after the end")
    assert list(png_chunks(data)) == [
        (b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0)),
        (b"IDAT", b"one"),
        (b"IDAT", b"two"),
        (b"tEXt", b"a\0b"),
        (b"IEND", b""),
    ]


def test_a_chunk_cut_by_the_end_of_the_file_comes_out_short() -> None:
    data = png([b"pixel data"])
    cut = data[: data.index(b"pixel data") + 5]
    assert list(png_chunks(cut))[-1] == (b"IDAT", b"pixel")


def test_a_stream_split_over_idat_chunks_and_complete_has_no_shortfall() -> None:
    stream = zlib.compress(
        b"\0" + bytes(12) + b"\0" + bytes(12) + b"\0" + bytes(12) + b"\0" + bytes(12)
    )
    assert png_shortfall(png([stream[:7], stream[7:]])) is None


def test_a_short_stream_is_reported_with_the_counts() -> None:
    stream = zlib.compress(bytes(30))  # 30 of the 4 x (1 + 12) = 52 bytes a 4x4 RGB needs
    assert png_shortfall(png([stream])) == (
        "its pixel data ends after 30 of 52 bytes (truncated or damaged)"
    )


def test_other_bytes_are_left_to_pillow() -> None:
    assert png_shortfall(b"GIF89a" + bytes(40)) is None
