"""Is a PNG's pixel data as long as its header says? Checked before Pillow decodes it.

Pillow stops at the end of a short zlib stream and fills the missing rows with zeros: a 69-byte
upload could become a fabricated 1x10,000,000 image after seconds of work. Inflating the IDAT
stream here (output discarded, bounded by the declared size) costs time in proportion to what
was really sent, and a short stream is refused as truncated instead.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples per pixel
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2))
_ADAM7_LAST = (0, 1, 1, 2)  # x0, y0, dx, dy of the seventh pass
_STEP = 1 << 20  # inflate at most this much at a time


def png_shortfall(data: bytes) -> str | None:
    """None when ``data`` is not a PNG or its IDAT stream inflates to the declared size;
    otherwise what is missing, in words."""
    if not data.startswith(_SIGNATURE) or len(data) < 33:
        return None
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    if colour not in _CHANNELS or width == 0 or height == 0:
        return None  # Pillow refuses these itself
    expected = _expected_bytes(width, height, depth * _CHANNELS[colour], interlace == 1)
    got = _inflated_length(_idat(data), expected)
    if got < expected:
        return f"its pixel data ends after {got} of {expected} bytes (truncated or damaged)"
    return None


def _expected_bytes(width: int, height: int, bits: int, interlaced: bool) -> int:
    """Filtered scanline bytes: one filter byte plus the packed samples, per row (per pass)."""
    passes = (*_ADAM7, _ADAM7_LAST) if interlaced else ((0, 0, 1, 1),)
    total = 0
    for x0, y0, dx, dy in passes:
        cols = (width - x0 + dx - 1) // dx if width > x0 else 0
        rows = (height - y0 + dy - 1) // dy if height > y0 else 0
        if cols and rows:
            total += rows * (1 + (cols * bits + 7) // 8)
    return total


def png_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Each chunk's type and body, from the signature to IEND or as far as the file goes (a
    body cut short by the end of the file comes out short)."""
    pos = len(_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        yield kind, data[pos + 8 : pos + 8 + length]
        if kind == b"IEND":
            return
        pos += 12 + length


def _idat(data: bytes) -> bytes:
    """The IDAT chunks' bodies joined, as far as the file goes."""
    return b"".join(body for kind, body in png_chunks(data) if kind == b"IDAT")


def _inflated_length(stream: bytes, limit: int) -> int:
    """How many bytes ``stream`` inflates to, counting no further than ``limit``."""
    inflater = zlib.decompressobj()
    total = 0
    pending = stream
    try:
        while total < limit:
            chunk = inflater.decompress(pending, min(_STEP, limit - total))
            total += len(chunk)
            pending = inflater.unconsumed_tail
            if not chunk and not pending:
                break
    except zlib.error:
        return total  # a damaged stream: Pillow will report it
    return total
