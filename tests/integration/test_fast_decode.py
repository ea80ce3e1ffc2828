"""Fast decode on a 12-megapixel photo: the same objects as the full decode, in the original
photo's pixels. Not the same pixels, so not the same boxes to the pixel: fast decode moves them
by up to 2.5 px of the network input for YOLOX-nano and 3.2 for YOLOv8n; an exact decode
resized with INTER_AREA instead of INTER_LINEAR moves them further (3.0 and 6.7)."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from detection import box_iou
from service.pipelines.detector import Detector
from service.pipelines.images import decode_image
from service.pipelines.preprocess import decode_floor
from service.pipelines.registry import ModelRegistry
from service.repository import load_catalog, pull
from service.repository.catalog import bundled_catalog_path
from service.settings import Settings

MODELS = ("yolox_nano", "yolov8n_coco_dynint8")
LIMIT = 50_000_000
BOX_INPUT_PX = 4.0  # at the network input's scale: ~38 px of the 4000x3000 photo at 416
MIN_IOU = 0.9


@pytest.fixture(scope="module")
def registry(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> ModelRegistry:
    target = tmp_path_factory.mktemp("fast-decode-models")
    pull(load_catalog(bundled_catalog_path()), list(MODELS), target, source=str(models_dir))
    loaded = ModelRegistry(Settings(models_dir=target, providers=["CPUExecutionProvider"]))
    loaded.load_all()
    assert loaded.ready, loaded.status()
    return loaded


@pytest.fixture(scope="module")
def twelve_mp_photo(images_dir: Path) -> bytes:
    """ul_bus.jpg (810x1080) enlarged to 3000x4000 with cv2 INTER_CUBIC, saved as JPEG q=92."""
    bus = cv2.imread(str(images_dir / "ul_bus.jpg"))
    assert bus is not None
    big = cv2.resize(bus, (3000, 4000), interpolation=cv2.INTER_CUBIC)
    ok, encoded = cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return encoded.tobytes()


@pytest.mark.parametrize("name", MODELS)
def test_fast_decode_finds_the_same_objects_in_original_pixels(
    registry: ModelRegistry, twelve_mp_photo: bytes, name: str
) -> None:
    detector = registry.get(Detector, name)
    assert detector.fast_input is not None
    full = decode_image(twelve_mp_photo, max_pixels=LIMIT)
    reduced = decode_image(
        twelve_mp_photo, max_pixels=LIMIT, reduce_to=decode_floor(detector.fast_input)
    )
    assert full.hw == (4000, 3000) and full.full_hw is None
    assert reduced.full_hw == (4000, 3000)
    assert reduced.hw[0] < 4000 / 2  # at least a 1/4 scale decode for a 416 or 640 input
    exact = detector.run(full.pixels)
    fast = detector.run(reduced.pixels, image_hw=reduced.full_hw)
    assert fast.image_hw == exact.image_hw == (4000, 3000)
    assert len(exact.labels) >= 4 and "bus" in exact.labels
    # Matched by position: each exact box's nearest fast box has its class and nearly its place.
    assert len(fast.labels) == len(exact.labels)
    assert exact.transform is not None
    gain = exact.transform.gain_xy[0]
    for box, label in zip(exact.xyxy, exact.labels, strict=True):
        nearest = int(np.abs(fast.xyxy - box).max(axis=1).argmin())
        assert fast.labels[nearest] == label
        assert np.abs(fast.xyxy[nearest] - box).max() * gain <= BOX_INPUT_PX, (label, box)
        assert box_iou(box[None], fast.xyxy[nearest][None])[0, 0] >= MIN_IOU, (label, box)


def test_a_fast_decoded_jpeg_is_at_the_smallest_scale_covering_the_resize(
    registry: ModelRegistry, twelve_mp_photo: bytes
) -> None:
    """YOLOX-nano letterboxes 3000x4000 to 312x416: 1/8 (375x500) covers it; YOLOv8n's
    480x640 needs 1/4 (750x1000)."""
    sizes = {}
    for name in MODELS:
        detector = registry.get(Detector, name)
        assert detector.fast_input is not None
        floor = decode_floor(detector.fast_input)
        sizes[name] = decode_image(twelve_mp_photo, max_pixels=LIMIT, reduce_to=floor).hw
    assert sizes == {"yolox_nano": (500, 375), "yolov8n_coco_dynint8": (1000, 750)}


def test_other_formats_are_decoded_in_full(registry: ModelRegistry) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (3000, 2000), (90, 120, 150)).save(buffer, "PNG")
    detector = registry.get(Detector, "yolox_nano")
    assert detector.fast_input is not None
    floor = decode_floor(detector.fast_input)
    decoded = decode_image(buffer.getvalue(), max_pixels=LIMIT, reduce_to=floor)
    assert decoded.hw == (2000, 3000) and decoded.full_hw is None
