"""Preprocessing follows the config and records the geometry that postprocessing inverts."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from PIL import Image

from service.pipelines.preprocess import preprocess
from service.repository.spec import InputSpec

BASE = InputSpec(
    name="x", dtype="float32", size=(8, 8), dynamic_hw=False, batch=1, layout="NCHW",
    resize="letterbox", resize_short=None, placement="center", pad_value=114, auto_stride=False,
    stride=32, scale_up=True, color="RGB", scale=1.0, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
)  # fmt: skip


def picture() -> np.ndarray:
    pixels = np.zeros((4, 8, 3), np.uint8)
    pixels[..., 0], pixels[..., 1], pixels[..., 2] = 10, 20, 30
    return pixels


def test_centre_letterbox_pads_top_and_bottom_with_the_pad_value() -> None:
    tensor, transform = preprocess(picture(), BASE)
    assert tensor.shape == (1, 3, 8, 8)
    assert transform.pad_ltrb == (0, 2, 0, 2)
    assert (tensor[0, :, :2] == 114).all() and (tensor[0, :, 6:] == 114).all()
    np.testing.assert_array_equal(tensor[0, :, 4, 4], [10, 20, 30])


def test_top_left_bgr_nhwc_scale_mean_std() -> None:
    config = replace(BASE, placement="top-left", color="BGR", layout="NHWC", scale=0.5,
                     mean=(1.0, 2.0, 3.0), std=(2.0, 2.0, 2.0), pad_value=0)  # fmt: skip
    tensor, transform = preprocess(picture(), config)
    assert tensor.shape == (1, 8, 8, 3)
    assert transform.offset_xy == (0, 0)
    # BGR: (30, 20, 10) * 0.5 = (15, 10, 5); minus (1, 2, 3), over 2.
    np.testing.assert_allclose(tensor[0, 0, 0], [7.0, 4.0, 1.0])
    np.testing.assert_allclose(tensor[0, 7, 7], [-0.5, -1.0, -1.5])  # padding


def test_stretch_and_crop_geometry() -> None:
    stretched, record = preprocess(picture(), replace(BASE, resize="stretch"))
    assert record.resized_hw == (8, 8)
    np.testing.assert_array_equal(stretched[0, :, 0, 0], [10, 20, 30])
    cropped, crop = preprocess(picture(), replace(BASE, resize="crop", resize_short=8, size=(8, 8)))
    assert crop.resized_hw == (8, 16)
    assert crop.offset_xy == (-4, 0)
    assert cropped.dtype == np.float32


def test_auto_stride_uses_the_minimal_rectangle() -> None:
    wide = np.zeros((100, 200, 3), np.uint8)
    tensor, transform = preprocess(wide, replace(BASE, size=(64, 64), auto_stride=True, stride=16))
    assert transform.input_hw == (32, 64)
    assert tensor.shape == (1, 3, 32, 64)


def test_a_centre_crop_computes_only_the_crop_and_equals_resize_then_crop() -> None:
    rng = np.random.default_rng(0)
    strip = rng.integers(0, 256, (2, 100, 3), dtype=np.uint8)
    config = replace(BASE, resize="crop", resize_short=256, size=(224, 224))
    tensor, transform = preprocess(strip, config)
    assert transform.resized_hw == (256, 12800)
    # The naive way: the whole resized picture, then the crop.
    whole = np.asarray(Image.fromarray(strip).resize((12800, 256), Image.Resampling.BILINEAR))
    left = -transform.offset_xy[0]
    naive = whole[16:240, left : left + 224].astype(np.float32)
    assert np.abs(tensor[0].transpose(1, 2, 0) - naive).max() <= 1.0


def test_a_one_pixel_strip_letterboxes_to_at_least_one_pixel() -> None:
    tensor, transform = preprocess(np.zeros((1, 10000, 3), np.uint8), replace(BASE, size=(64, 64)))
    assert transform.resized_hw == (1, 64)
    assert tensor.shape == (1, 3, 64, 64)
