"""Resizing into a view of a larger array: the letterbox canvas is written in place."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from service.pipelines.resize import resize, resize_into
from service.repository.config import Interpolation


def noise(height: int, width: int) -> np.ndarray:
    return np.random.default_rng(height).integers(0, 256, (height, width, 3), dtype=np.uint8)


def expected(
    image: np.ndarray, size_hw: tuple[int, int], interpolation: Interpolation
) -> np.ndarray:
    height, width = size_hw
    if interpolation == "antialias":
        return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BILINEAR))
    flags = {"linear": cv2.INTER_LINEAR, "area": cv2.INTER_AREA, "cubic": cv2.INTER_CUBIC,
             "nearest": cv2.INTER_NEAREST}  # fmt: skip
    return cv2.resize(image, (width, height), interpolation=flags[interpolation])


@pytest.mark.parametrize("interpolation", ["linear", "area", "cubic", "nearest", "antialias"])
def test_resize_into_fills_the_view_and_nothing_else(interpolation: Interpolation) -> None:
    image = noise(90, 130)
    canvas = np.full((50, 60, 3), 7, np.uint8)
    view = canvas[10:40, 5:50]
    assert resize_into(image, view, interpolation) is view
    np.testing.assert_array_equal(canvas[10:40, 5:50], expected(image, (30, 45), interpolation))
    untouched = np.ones(canvas.shape[:2], bool)
    untouched[10:40, 5:50] = False
    assert (canvas[untouched] == 7).all()


def test_a_same_size_picture_is_copied_into_the_view() -> None:
    image = noise(20, 30)
    canvas = np.zeros((30, 30, 3), np.uint8)
    resize_into(image[:, ::-1], canvas[5:25], "linear")  # a non-contiguous source, too
    np.testing.assert_array_equal(canvas[5:25], image[:, ::-1])


def test_resize_returns_the_picture_itself_when_already_that_size() -> None:
    image = noise(20, 30)
    assert resize(image, (20, 30), "linear") is image
    np.testing.assert_array_equal(
        resize(image, (10, 15), "area"), expected(image, (10, 15), "area")
    )
