"""Preprocessing follows the config and records the geometry that postprocessing inverts."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
from PIL import Image

from service.pipelines import resize as resize_module
from service.pipelines.preprocess import preprocess
from service.repository.config import Interpolation
from service.repository.spec import InputSpec
from tests.unit.service.pipelines import preprocess_reference

BASE = InputSpec(
    name="x", dtype="float32", size=(8, 8), dynamic_hw=False, batch=1, layout="NCHW",
    resize="letterbox", resize_short=None, placement="center", pad_value=114, auto_stride=False,
    stride=32, scale_up=True, interpolation="linear", color="RGB", scale=1.0,
    mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
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


def noise(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_linear_letterbox_is_opencv_resize_then_border_bit_for_bit() -> None:
    """Ultralytics' LetterBox: cv2.resize(INTER_LINEAR), then cv2.copyMakeBorder(114)."""
    image = noise(300, 451)
    tensor, transform = preprocess(image, replace(BASE, size=(64, 64)))
    left, top, right, bottom = transform.pad_ltrb
    resized = cv2.resize(image, (64, 43), interpolation=cv2.INTER_LINEAR)
    expected = cv2.copyMakeBorder(
        resized, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114)
    )
    np.testing.assert_array_equal(tensor[0].transpose(1, 2, 0), expected)


@pytest.mark.parametrize(
    ("interpolation", "flag"),
    [("area", cv2.INTER_AREA), ("cubic", cv2.INTER_CUBIC), ("nearest", cv2.INTER_NEAREST)],
)
def test_each_opencv_filter_is_opencvs(interpolation: Interpolation, flag: int) -> None:
    image = noise(90, 70)
    config = replace(BASE, resize="stretch", size=(40, 50), interpolation=interpolation)
    tensor, _ = preprocess(image, config)
    expected = cv2.resize(image, (50, 40), interpolation=flag)
    np.testing.assert_array_equal(tensor[0].transpose(1, 2, 0), expected)


def test_antialias_crop_is_pillow_resize_then_centre_crop_bit_for_bit() -> None:
    """torchvision's Resize(256) + CenterCrop(224) on a PIL image."""
    image = noise(300, 451)
    config = replace(
        BASE, resize="crop", resize_short=256, size=(224, 224), interpolation="antialias"
    )
    tensor, transform = preprocess(image, config)
    assert transform.resized_hw == (256, 384)
    whole = np.asarray(Image.fromarray(image).resize((384, 256), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(tensor[0].transpose(1, 2, 0), whole[16:240, 80:304])


def test_shrinking_filters_differ_where_the_reference_would_notice() -> None:
    """Pillow's bilinear averages a wider neighbourhood when shrinking; OpenCV's does not."""
    image = noise(400, 400)
    linear, _ = preprocess(image, replace(BASE, resize="stretch", size=(100, 100)))
    smooth, _ = preprocess(
        image, replace(BASE, resize="stretch", size=(100, 100), interpolation="antialias")
    )
    assert np.abs(linear - smooth).max() > 50
    assert smooth.std() < linear.std()  # averaging more pixels: less noise survives


@pytest.mark.parametrize(
    ("interpolation", "tolerance"), [("antialias", 1), ("linear", 1), ("cubic", 1), ("nearest", 0)]
)
def test_a_centre_crop_of_an_extreme_strip_computes_only_the_crop(
    interpolation: Interpolation, tolerance: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the whole-resize limit only the crop is sampled, within a grey level ("area" is
    sampled linearly there, so it is left out)."""
    monkeypatch.setattr(resize_module, "MAX_WHOLE_RESIZE_PIXELS", 1_000_000)
    strip = noise(2, 100)
    config = replace(
        BASE, resize="crop", resize_short=256, size=(224, 224), interpolation=interpolation
    )
    tensor, transform = preprocess(strip, config)
    assert transform.resized_hw == (256, 12800)
    # The naive way: the whole resized picture (3.3 megapixels here), then the crop.
    monkeypatch.setattr(resize_module, "MAX_WHOLE_RESIZE_PIXELS", 10_000_000)
    naive, _ = preprocess(strip, config)
    assert np.abs(tensor - naive).max() <= tolerance


def test_a_one_pixel_strip_letterboxes_to_at_least_one_pixel() -> None:
    tensor, transform = preprocess(np.zeros((1, 10000, 3), np.uint8), replace(BASE, size=(64, 64)))
    assert transform.resized_hw == (1, 64)
    assert tensor.shape == (1, 3, 64, 64)


def test_a_one_over_n_scale_divides_as_ultralytics_and_torchvision_do() -> None:
    """``im / 255`` in float32; multiplying by float32(1/255) differs in 126 of 256 values."""
    values = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    config = replace(BASE, resize="stretch", size=(16, 16), scale=1 / 255)
    tensor, _ = preprocess(values, config)
    expected = values.transpose(2, 0, 1)[None].astype(np.float32) / np.float32(255)
    np.testing.assert_array_equal(tensor, expected)
    assert (expected != values.transpose(2, 0, 1)[None] * np.float32(1 / 255)).sum() == 3 * 126


# Every kind of [input] the bundled models and Ultralytics' exports use, and the corners between.
REFERENCE_CONFIGS = {
    "yolov8 640 centre 1/255": replace(BASE, size=(640, 640), scale=1 / 255),
    "yolox 416 top-left BGR raw": replace(BASE, size=(416, 416), placement="top-left", color="BGR"),
    "retinaface BGR means, pad 0": replace(
        BASE, size=(640, 640), placement="top-left", pad_value=0, color="BGR",
        mean=(104.0, 117.0, 123.0),
    ),
    "scrfd (x-127.5)/128": replace(
        BASE, size=(640, 640), placement="top-left", pad_value=0, mean=(127.5,) * 3,
        std=(128.0,) * 3,
    ),
    "yunet no scale-up": replace(BASE, size=(640, 640), placement="top-left", scale_up=False),
    "ultraface stretch": replace(
        BASE, size=(240, 320), resize="stretch", mean=(127.0,) * 3, std=(128.0,) * 3
    ),
    "imagenet crop antialias": replace(
        BASE, size=(224, 224), resize="crop", resize_short=256, interpolation="antialias",
        scale=1 / 255, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
    ),
    "style NHWC crop": replace(
        BASE, size=(256, 256), resize="crop", resize_short=256, interpolation="antialias",
        scale=1 / 255, layout="NHWC",
    ),
    "NHWC letterbox BGR scale 1/128 cubic": replace(
        BASE, size=(96, 128), layout="NHWC", color="BGR", scale=1 / 128, interpolation="cubic",
    ),
    "auto-stride area, odd scale": replace(
        BASE, size=(320, 320), auto_stride=True, stride=32, interpolation="area", scale=0.3,
    ),
    "nearest stretch": replace(BASE, size=(64, 48), resize="stretch", interpolation="nearest"),
}  # fmt: skip
REFERENCE_PICTURES = {
    "landscape": (300, 451),
    "portrait": (517, 237),
    "input-sized": (640, 640),
    "tiny": (3, 5),
    "strip": (1, 700),
}


@pytest.mark.parametrize("picture_hw", REFERENCE_PICTURES.values(), ids=list(REFERENCE_PICTURES))
@pytest.mark.parametrize("config", REFERENCE_CONFIGS.values(), ids=list(REFERENCE_CONFIGS))
def test_the_lean_tensor_is_the_previous_one_bit_for_bit(
    config: InputSpec, picture_hw: tuple[int, int]
) -> None:
    """Against preprocessing as it was before it wrote into preallocated arrays."""
    image = noise(*picture_hw, seed=picture_hw[0])
    tensor, transform = preprocess(image, config, config.stride)
    expected, expected_transform = preprocess_reference.preprocess(image, config, config.stride)
    assert transform == expected_transform
    assert tensor.dtype == expected.dtype == np.float32
    assert tensor.shape == expected.shape
    assert tensor.flags.c_contiguous
    # Bit patterns, so that -0.0 against 0.0 or a last-bit difference would fail too.
    np.testing.assert_array_equal(tensor.view(np.uint32), expected.view(np.uint32))


def test_a_reduced_decode_is_planned_and_recorded_in_the_full_pictures_pixels() -> None:
    """Fast decode: pixels at 1/4 scale, geometry of the 4x larger picture they came from."""
    full = noise(400, 600)
    quarter = full[::4, ::4]
    config = replace(BASE, size=(64, 64))
    tensor, transform = preprocess(quarter, config, image_hw=(400, 600))
    assert transform == preprocess(full, config)[1]
    assert transform.image_hw == (400, 600) and transform.resized_hw == (43, 64)
    resized = cv2.resize(quarter, (64, 43), interpolation=cv2.INTER_LINEAR)
    top = transform.offset_xy[1]
    np.testing.assert_array_equal(tensor[0, :, top : top + 43].transpose(1, 2, 0), resized)
