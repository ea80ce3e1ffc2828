"""Mask outlines and whole-image masks, as Ultralytics' results.masks gives them."""

from __future__ import annotations

import numpy as np

from detection import letterbox
from service.pipelines.segments import image_mask, join_segments, mask_outline

# Three rectangles in one mask; findContours lists them bottom-up.
THREE = np.zeros((20, 30), bool)
THREE[2:5, 3:7] = True
THREE[10:14, 20:25] = True
THREE[15:18, 2:4] = True
# Ultralytics 8.4.190's masks2segments(strategy="all") on THREE (data/converter.py
# merge_multi_segment), recorded with it: the path goes out along the links and back.
JOINED = [
    [3, 15], [2, 15], [2, 17], [3, 17], [3, 15], [20, 13], [20, 10], [6, 4], [6, 2], [3, 2],
    [3, 4], [6, 4], [20, 10], [24, 10], [24, 13], [20, 13],
]  # fmt: skip


def test_several_contours_are_joined_as_ultralytics_joins_them() -> None:
    identity = letterbox((20, 30), (20, 30))
    np.testing.assert_array_equal(mask_outline(THREE, identity), np.array(JOINED, np.float32))


def test_one_contour_is_its_corners_mapped_back_to_the_image() -> None:
    mask = np.zeros((64, 64), bool)
    mask[24:40, 8:40] = True  # a 32x16 block in a 64x64 input
    transform = letterbox((32, 128), (64, 64))  # gain 0.5, 24 px of padding on top
    outline = mask_outline(mask, transform)
    assert outline.tolist() == [[16, 0], [16, 30], [78, 30], [78, 0]]


def test_an_empty_mask_has_no_outline() -> None:
    outline = mask_outline(np.zeros((8, 8), bool), letterbox((8, 8), (8, 8)))
    assert outline.shape == (0, 2)


def test_two_contours_are_each_walked_whole() -> None:
    first = np.array([[0, 0], [0, 2], [2, 2], [2, 0]], np.int32)
    second = np.array([[5, 5], [5, 7], [7, 7], [7, 5]], np.int32)
    joined = join_segments([first, second])
    # Each is rolled to start where the link between them is, and closed.
    assert [part.tolist() for part in joined] == [
        [[2, 2], [2, 0], [0, 0], [0, 2], [2, 2]],
        [[5, 5], [5, 7], [7, 7], [7, 5], [5, 5]],
    ]


def test_image_mask_drops_the_padding_and_scales_to_the_image() -> None:
    transform = letterbox((32, 128), (64, 64))  # the image fills rows 24..39 of the input
    mask = np.zeros((64, 64), bool)
    mask[24:40, 0:32] = True  # the left half of the image
    full = image_mask(mask, transform)
    assert full.shape == (32, 128)
    assert full[:, :64].all() and not full[:, 64:].any()
