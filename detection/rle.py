"""COCO run-length encoding of binary masks, byte for byte what pycocotools writes.

COCO results and annotations carry masks as ``{"size": [h, w], "counts": str}``: the mask read
column by column (Fortran order), as alternating run lengths starting with a run of zeros
(possibly empty), then compressed into printable ASCII by pycocotools' ``rleToString``
(maskApi.c): from the third run on, each count is stored as the difference to the count two
before it, then written as little-endian 5-bit groups in characters 48..111, bit 0x20 meaning
"more groups follow" and bit 0x10 of the last group the sign. Vectorised; no per-pixel loop.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from detection.errors import DetectionError

__all__ = ["mask_to_rle", "run_lengths"]

#: Enough 5-bit groups for any int64 difference (13 x 5 = 65 bits).
_MAX_GROUPS = 13


def run_lengths(mask: ArrayLike) -> NDArray[np.int64]:
    """Alternating 0/1 run lengths of an (H, W) mask in column-major order, zeros first."""
    array = np.asarray(mask)
    if array.ndim != 2:
        raise DetectionError(f"mask must have shape (H, W), got {array.shape}")
    flat = array.astype(bool).ravel(order="F")
    if flat.size == 0:
        return np.zeros(1, dtype=np.int64)
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    edges = np.concatenate(([0], changes, [flat.size]))
    counts = np.diff(edges).astype(np.int64)
    return np.concatenate(([0], counts)) if flat[0] else counts


def _compress(counts: NDArray[np.int64]) -> str:
    """pycocotools' ``rleToString``: delta from the count two before (from index 3), then
    5-bit groups, least significant first, each + 48, 0x20 set on all but the last group."""
    values = counts.copy()
    values[3:] -= counts[1:-2]
    groups = (values[:, None] >> (5 * np.arange(_MAX_GROUPS))[None, :]) & 0x1F  # (m, groups)
    rest = values[:, None] >> (5 * np.arange(1, _MAX_GROUPS + 1))[None, :]  # after each group
    sign_bit = (groups & 0x10) != 0
    more = np.where(sign_bit, rest != -1, rest != 0)
    # A value uses groups up to and including the first one after which nothing is left.
    used = np.cumsum(~more, axis=1) - ~more == 0
    chars = (groups | np.where(more, 0x20, 0)) + 48
    encoded: bytes = chars[used].astype(np.uint8).tobytes()
    return encoded.decode("ascii")


def mask_to_rle(mask: ArrayLike) -> dict[str, list[int] | str]:
    """COCO compressed RLE of an (H, W) binary mask: ``{"size": [H, W], "counts": str}``.

    Equal to ``pycocotools.mask.encode(np.asfortranarray(mask))`` with ``counts`` decoded from
    bytes to str (what COCO JSON files hold). Any nonzero value counts as foreground.
    """
    array = np.asarray(mask)
    counts = run_lengths(array)
    return {"size": [int(array.shape[0]), int(array.shape[1])], "counts": _compress(counts)}
