"""Segmentation masks: PyTorch's bilinear upsampling bit for bit, and Ultralytics' crop rule.

The recorded values and digests below were produced with torch 2.14.1 (``F.interpolate``,
``mode="bilinear"``, ``align_corners=False``) and Ultralytics 8.4.190 (``ops.process_mask``,
``upsample=True``) on the inputs this file builds, not with the code under test.
"""

import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from detection import DetectionError, process_masks
from detection.masks import resize_bilinear

PROPERTY = settings(database=None, deadline=None, derandomize=True, max_examples=150)


def pattern(shape: tuple[int, ...]) -> NDArray[np.float32]:
    """Deterministic float32 values in [-13.5, 13.5] without a random generator."""
    index = np.arange(int(np.prod(shape)), dtype=np.int64)
    return (((index * 7919) % 1000 - 500) / np.float32(37)).astype(np.float32).reshape(shape)


def digest(array: NDArray[np.generic]) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def test_two_by_two_to_four_by_four_has_half_pixel_centres_and_clamped_edges() -> None:
    # PyTorch's answer: edge rows/columns repeat the border value's neighbourhood (clamping),
    # inner samples sit at 1/4 and 3/4 between the source pixels.
    resized = resize_bilinear(np.array([[[1, 2], [3, 4]]], dtype=np.float32), (4, 4))
    np.testing.assert_array_equal(
        resized[0],
        [
            [1.0, 1.25, 1.75, 2.0],
            [1.5, 1.75, 2.25, 2.5],
            [2.5, 2.75, 3.25, 3.5],
            [3.0, 3.25, 3.75, 4.0],
        ],
    )
    assert resized.dtype == np.float32


TORCH_DIGESTS = [
    ((3, 9, 13), (72, 104), "2a18c6c99cc5f1a7a1d4acfc4ef8843d5aa7afac3a77582e03d2df41246059e3"),
    ((2, 40, 40), (160, 160), "fe27e387af328505b0cb044ab1155e37d2cadc8c1779bf46a81cc5f75e09c651"),
    ((1, 30, 20), (120, 81), "ffa61e4a64b11949acf4b19cd90c1829454b1ed66d59a2a4d88a2dfad9a8ce3a"),
]  # fmt: skip


@pytest.mark.parametrize(("shape", "size", "expected"), TORCH_DIGESTS)
def test_upsampling_is_bit_identical_to_pytorch(
    shape: tuple[int, int, int], size: tuple[int, int], expected: str
) -> None:
    # sha256 of torch's float32 output bytes (little-endian); every output has H + W > 128,
    # where F.interpolate takes the generic kernel this reproduces.
    assert digest(resize_bilinear(pattern(shape), size).astype("<f4")) == expected


@PROPERTY
@given(
    st.integers(1, 9), st.integers(1, 9), st.integers(1, 40), st.integers(1, 40),
    st.floats(-50, 50, width=32),
)  # fmt: skip
def test_a_constant_map_stays_constant(
    h: int, w: int, out_h: int, out_w: int, value: float
) -> None:
    resized = resize_bilinear(np.full((1, h, w), value, dtype=np.float32), (out_h, out_w))
    np.testing.assert_allclose(resized, value, rtol=1e-6, atol=1e-6)


@PROPERTY
@given(st.integers(1, 12), st.integers(1, 12))
def test_the_same_size_is_the_identity(h: int, w: int) -> None:
    maps = pattern((2, h, w))
    np.testing.assert_array_equal(resize_bilinear(maps, (h, w)), maps)


def test_a_ramp_upsampled_four_times_is_linear_between_the_clamped_edges() -> None:
    ramp = np.arange(8, dtype=np.float32)[None, None, :].repeat(3, axis=1)  # (1, 3, 8)
    row = resize_bilinear(ramp, (12, 32))[0, 5]
    # Output column j samples source x = (j + 0.5) / 4 - 0.5, clamped to [0, 7].
    expected = np.clip((np.arange(32) + 0.5) / 4 - 0.5, 0, 7)
    np.testing.assert_allclose(row, expected, atol=1e-6)


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(DetectionError, match=r"\(N, h, w\)"):
        resize_bilinear(np.zeros((4, 4)), (8, 8))
    with pytest.raises(DetectionError, match="cannot resize"):
        resize_bilinear(np.zeros((1, 4, 4)), (0, 8))


def reference_masks(
    coefficients: NDArray[np.float32],
    prototypes: NDArray[np.float32],
    boxes: NDArray[np.float32],
    input_hw: tuple[int, int],
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Ultralytics' order on whole maps: logits, upsample, > 0, then zero outside each box.

    Also says where a logit is within 1e-5 of 0: there the summation order of the matrix
    product (BLAS here, fused multiply-adds in order there) may decide either way.
    """
    logits = (coefficients @ prototypes.reshape(prototypes.shape[0], -1)).reshape(
        -1, *prototypes.shape[1:]
    )
    upsampled = resize_bilinear(logits, input_hw)
    masks = upsampled > 0
    for mask, (x1, y1, x2, y2) in zip(masks, boxes, strict=True):
        for column in range(input_hw[1]):
            if not x1 <= np.float32(column) < x2:
                mask[:, column] = False
        for row in range(input_hw[0]):
            if not y1 <= np.float32(row) < y2:
                mask[row, :] = False
    return masks, np.abs(upsampled) < 1e-5


def test_masks_are_recorded_ultralytics_output_on_a_small_case() -> None:
    # ops.process_mask(protos, coef, boxes, (32, 32), upsample=True): pixel counts and the
    # sha256 of np.packbits of its (2, 32, 32) masks.
    protos = pattern((4, 8, 8)) / np.float32(10)
    coefficients = np.array([[1.0, -0.5, 0.25, 0.0], [0.0, 1.0, 0.0, -1.0]], dtype=np.float32)
    boxes = np.array([[2.5, 3.0, 20.0, 25.9], [-5.0, 0.0, 40.0, 31.0]], dtype=np.float32)
    masks = process_masks(coefficients, protos, boxes, (32, 32))
    assert masks.dtype == np.bool_ and masks.shape == (2, 32, 32)
    assert masks.reshape(2, -1).sum(axis=1).tolist() == [235, 480]
    expected = "a6ce7f0c3f1f501d98d07bc74cc695e9bd077fe3719b9197995f9bba6f581d09"
    assert digest(np.packbits(masks)) == expected


@st.composite
def mask_cases(
    draw: st.DrawFn,
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32], tuple[int, int]]:
    grid_h, grid_w = draw(st.integers(1, 10)), draw(st.integers(1, 10))
    count, channels = draw(st.integers(0, 6)), draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    prototypes = rng.normal(size=(channels, grid_h, grid_w)).astype(np.float32)
    coefficients = rng.normal(size=(count, channels)).astype(np.float32)
    height, width = 4 * grid_h, 4 * grid_w
    corners = rng.uniform(-8, max(height, width) + 8, size=(count, 2, 2))
    # Whole and fractional coordinates both: the crop compares pixels with the raw box.
    corners = np.where(rng.random(corners.shape) < 0.3, np.round(corners), corners)
    low, high = corners.min(axis=1), corners.max(axis=1)
    boxes = np.concatenate([low, high], axis=1).astype(np.float32)
    return coefficients, prototypes, boxes, (height, width)


@PROPERTY
@given(mask_cases())
def test_masks_equal_upsampling_everything_then_cropping(
    case: tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32], tuple[int, int]],
) -> None:
    coefficients, prototypes, boxes, input_hw = case
    masks = process_masks(coefficients, prototypes, boxes, input_hw)
    expected, undecided = reference_masks(*case)
    np.testing.assert_array_equal(masks[~undecided], expected[~undecided])


@pytest.mark.parametrize(
    ("x1", "x2", "columns"),
    [(2.0, 5.0, [2, 3, 4]), (2.1, 5.0, [3, 4]), (1.9, 5.1, [2, 3, 4, 5]), (3.0, 3.0, [])],
)
def test_the_crop_keeps_columns_from_x1_inclusive_to_x2_exclusive(
    x1: float, x2: float, columns: list[int]
) -> None:
    prototypes = np.ones((1, 2, 2), dtype=np.float32)  # every logit is 1: all inside is set
    masks = process_masks([[1.0]], prototypes, [[x1, 0.0, x2, 8.0]], (8, 8))
    assert np.flatnonzero(masks[0].any(axis=0)).tolist() == columns
    assert masks[0].sum() == 8 * len(columns)


def test_a_zero_logit_is_not_foreground() -> None:
    masks = process_masks([[1.0]], np.zeros((1, 2, 2), np.float32), [[0, 0, 8, 8]], (8, 8))
    assert not masks.any()


def test_no_detections_give_an_empty_stack_and_bad_shapes_are_refused() -> None:
    empty = process_masks(np.zeros((0, 3)), np.zeros((3, 4, 4)), np.zeros((0, 4)), (16, 16))
    assert empty.shape == (0, 16, 16) and empty.dtype == np.bool_
    with pytest.raises(DetectionError, match=r"\(N, nm\), \(nm, h, w\) and \(N, 4\)"):
        process_masks(np.zeros((1, 2)), np.zeros((3, 4, 4)), np.zeros((1, 4)), (16, 16))
    with pytest.raises(DetectionError, match=r"\(N, nm\)"):
        process_masks(np.zeros((1, 3)), np.zeros((3, 16)), np.zeros((1, 4)), (16, 16))
