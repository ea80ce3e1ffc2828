"""COCO RLE: byte for byte what pycocotools (COCO's own C encoder) writes, on random masks."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from pycocotools import mask as coco_mask

from detection import DetectionError, mask_to_rle
from detection.rle import run_lengths

PROPERTY = settings(database=None, deadline=None, derandomize=True, max_examples=300)


def coco(mask: NDArray[np.generic]) -> dict[str, object]:
    encoded = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": list(encoded["size"]), "counts": encoded["counts"].decode("ascii")}


@st.composite
def masks(draw: st.DrawFn) -> NDArray[np.bool_]:
    height, width = draw(st.integers(0, 60)), draw(st.integers(0, 60))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    density = draw(st.sampled_from([0.0, 0.01, 0.3, 0.5, 0.97, 1.0]))
    mask = rng.random((height, width)) < density
    if draw(st.booleans()) and mask.size:  # a solid block: long runs, multi-group counts
        top, left = rng.integers(0, height), rng.integers(0, width)
        bottom, right = top + rng.integers(1, height + 1), left + rng.integers(1, width + 1)
        mask[top:bottom, left:right] = True
    return mask


@PROPERTY
@given(masks())
def test_mask_to_rle_equals_pycocotools(mask: NDArray[np.bool_]) -> None:
    assert mask_to_rle(mask) == coco(mask)


@pytest.mark.parametrize(
    "shape", [(640, 640), (1, 1), (1, 7), (7, 1), (3000, 2000)], ids=lambda s: f"{s[0]}x{s[1]}"
)
def test_whole_and_empty_and_framed_masks(shape: tuple[int, int]) -> None:
    for mask in (np.zeros(shape, bool), np.ones(shape, bool)):
        assert mask_to_rle(mask) == coco(mask)
    framed = np.zeros(shape, bool)
    framed[shape[0] // 3 : shape[0] // 2 + 1, shape[1] // 4 :] = True
    assert mask_to_rle(framed) == coco(framed)


def test_runs_are_column_major_and_start_with_zeros() -> None:
    mask = np.array([[1, 0], [1, 1]], dtype=bool)  # columns: (1, 1), (0, 1)
    assert run_lengths(mask).tolist() == [0, 2, 1, 1]
    assert run_lengths(~mask).tolist() == [2, 1, 1]
    assert run_lengths(np.zeros((0, 3))).tolist() == [0]


def test_any_nonzero_value_is_foreground_and_only_2d_masks_are_taken() -> None:
    values = np.array([[0, 3], [255, 0]], dtype=np.uint8)
    assert mask_to_rle(values) == coco(values != 0)
    with pytest.raises(DetectionError, match=r"\(H, W\)"):
        mask_to_rle(np.zeros((2, 2, 2)))
