import numpy as np
import pytest

from detection import DetectionError, letterbox, resize_crop, stretch


def test_letterbox_1280x720_into_640_pads_140_top_and_bottom() -> None:
    t = letterbox((720, 1280), (640, 640))
    assert t.resized_hw == (360, 640)
    assert t.pad_ltrb == (0, 140, 0, 140)
    assert t.input_hw == (640, 640)
    assert t.gain_xy == (0.5, 0.5)


def test_odd_padding_gives_the_extra_pixel_to_right_and_bottom() -> None:
    # 237x517 (w x h) -> 640: ratio 640/517, new width round(237*1.2379) = 293, pad 347.
    t = letterbox((517, 237), (640, 640))
    assert t.resized_hw == (640, 293)
    assert t.pad_ltrb == (173, 0, 174, 0)
    assert t.gain_xy == (293 / 237, 640 / 517)


def test_auto_pads_only_to_the_stride_multiple() -> None:
    t = letterbox((720, 1280), (640, 640), auto=True, stride=32)
    assert t.input_hw == (384, 640)  # 360 + 24 % 32 -> 12 top, 12 bottom
    assert t.pad_ltrb == (0, 12, 0, 12)


def test_top_left_placement_puts_all_padding_right_and_bottom() -> None:
    t = letterbox((720, 1280), (640, 640), center=False)
    assert t.offset_xy == (0, 0)
    assert t.pad_ltrb == (0, 0, 0, 280)


def test_no_scale_up_keeps_small_images_at_their_size() -> None:
    t = letterbox((100, 200), (640, 640), scale_up=False)
    assert t.resized_hw == (100, 200)
    assert t.pad_ltrb == (220, 270, 220, 270)


def test_boxes_map_back_through_the_same_record_and_clip() -> None:
    t = letterbox((720, 1280), (640, 640))
    boxes_in = np.array([[0, 140, 640, 500], [-10, 100, 100, 145]], dtype=np.float32)
    np.testing.assert_allclose(
        t.boxes_to_image(boxes_in), [[0, 0, 1280, 720], [0, 0, 200, 10]], atol=1e-4
    )
    points = t.points_to_image(np.array([[[320, 320]]], dtype=np.float32))
    assert points.shape == (1, 1, 2)
    np.testing.assert_allclose(points[0, 0], [640, 360])


def test_forward_then_back_is_identity_inside_the_image() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        h, w = (int(v) for v in rng.integers(20, 2000, 2))
        t = letterbox((h, w), (640, 480), center=bool(rng.integers(0, 2)))
        points = rng.uniform(0, 1, (30, 2)) * [w, h]
        gx, gy = t.gain_xy
        forward = points * [gx, gy] + t.offset_xy
        np.testing.assert_allclose(t.points_to_image(forward), points, atol=1e-3)


def test_stretch_scales_each_axis() -> None:
    t = stretch((480, 640), (240, 320))
    np.testing.assert_allclose(t.boxes_to_image([[10, 20, 30, 40]]), [[20, 40, 60, 80]])


def test_resize_crop_is_torchvision_resize_then_centre_crop() -> None:
    t = resize_crop((480, 640), 256, (224, 224))  # 256 x 341, crop at top 16, left 58
    assert t.resized_hw == (256, 341)
    assert t.offset_xy == (-58, -16)
    np.testing.assert_allclose(
        t.points_to_image([[0.0, 0.0]]), [[58 * 640 / 341, 16 * 480 / 256]], rtol=1e-6
    )
    tall = resize_crop((640, 480), 256, (224, 224))
    assert tall.resized_hw == (341, 256)
    padded = resize_crop((100, 100), 200, (224, 224))
    assert padded.pad_ltrb == (12, 12, 12, 12)


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(DetectionError, match="image_hw"):
        letterbox((0, 10), (640, 640))
    with pytest.raises(DetectionError, match="input_hw"):
        stretch((10, 10), (640, -1))
    with pytest.raises(DetectionError, match="resize_short"):
        resize_crop((10, 10), 0, (5, 5))
    with pytest.raises(DetectionError, match="crop_hw"):
        resize_crop((10, 10), 5, (0, 5))
    with pytest.raises(DetectionError, match="points"):
        stretch((10, 10), (5, 5)).points_to_image([1.0, 2.0, 3.0])


def test_extreme_aspect_ratios_keep_at_least_one_pixel() -> None:
    assert letterbox((1, 10000), (640, 640)).resized_hw == (1, 640)
    assert letterbox((10000, 1), (640, 640)).resized_hw == (640, 1)
    assert resize_crop((10000, 1), 256, (224, 224)).resized_hw == (2560000, 256)
    assert resize_crop((1, 100000), 1, (1, 1)).resized_hw == (1, 100000)
