"""The lean preprocessing and the libjpeg-turbo JPEG decode change no pixel: for every catalog model's
[input] and the shared and oracle photos, the same tensor bit for bit as before (the reference
kept in tests/unit/service/pipelines/preprocess_reference.py), from the same decoded pixels."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from service.pipelines.images import decode_image
from service.pipelines.preprocess import preprocess
from tests.integration.test_bundled_models import MANIFEST, resolve
from tests.unit.service.pipelines import preprocess_reference

PHOTOS = ("images/ul_bus.jpg", "images/ul_zidane.jpg", "images/fr_obama3.jpg",
          "images/chelsea.png", "oracle/images/bus_tall_237x517.png")  # fmt: skip
LIMIT = 50_000_000


def pillow_pixels(data: bytes) -> np.ndarray:
    """The decode before OpenCV's: Pillow, exif_transpose, convert("RGB")."""
    return np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))


@pytest.fixture(scope="module")
def photos(shared_dir: Path) -> dict[str, np.ndarray]:
    return {name: pillow_pixels((shared_dir / name).read_bytes()) for name in PHOTOS}


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_every_catalog_models_tensor_is_unchanged(
    name: str, models_dir: Path, photos: dict[str, np.ndarray]
) -> None:
    config = resolve(name, models_dir).input
    for photo, pixels in photos.items():
        tensor, transform = preprocess(pixels, config, config.stride)
        expected, expected_transform = preprocess_reference.preprocess(
            pixels, config, config.stride
        )
        assert transform == expected_transform, photo
        assert tensor.shape == expected.shape, photo
        assert (tensor.view(np.uint32) == expected.view(np.uint32)).all(), photo


def test_every_shared_photo_decodes_to_pillows_pixels(shared_dir: Path) -> None:
    files = sorted(
        path
        for folder in ("images", "oracle/images")
        for path in (shared_dir / folder).iterdir()
        if path.suffix in (".jpg", ".png")
    )
    assert len(files) >= 20
    for path in files:
        data = path.read_bytes()
        np.testing.assert_array_equal(
            decode_image(data, max_pixels=LIMIT).pixels, pillow_pixels(data), err_msg=path.name
        )
