"""VISION_FAST_DECODE through the real server: a 12-megapixel JPEG is answered in its own pixels
with the objects the full decode finds, and the drawn answer still draws on the full photo."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import pytest
from PIL import Image

from tests.e2e.conftest import LiveServer, StartServer

BOX_PX = 40.0  # ~4 px of a 416 input: see tests/integration/test_fast_decode.py


@pytest.fixture(scope="module")
def photo(images_dir: Path) -> bytes:
    """ul_bus.jpg enlarged to 3000x4000 (cv2 INTER_CUBIC), JPEG q=92, stored turned on its
    side (4000 wide) with EXIF orientation 6, which turns it upright again."""
    bus = cv2.imread(str(images_dir / "ul_bus.jpg"))
    assert bus is not None
    big = cv2.cvtColor(
        cv2.resize(bus, (3000, 4000), interpolation=cv2.INTER_CUBIC), cv2.COLOR_BGR2RGB
    )
    stored = Image.fromarray(big).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", quality=92, exif=exif)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def fast_server(start_server: StartServer) -> Iterator[LiveServer]:
    with start_server(VISION_FAST_DECODE="1") as server:
        yield server


def post(server: LiveServer, route: str, photo: bytes) -> httpx.Response:
    with httpx.Client(base_url=server.url, timeout=120.0) as client:
        return client.post(route, files={"image": ("big.jpg", photo)})


def test_fast_decode_answers_in_the_photos_own_pixels(
    live_server: LiveServer, fast_server: LiveServer, photo: bytes
) -> None:
    exact, fast = post(live_server, "/detect", photo), post(fast_server, "/detect", photo)
    assert exact.status_code == fast.status_code == 200, fast.text
    assert fast.json()["image"] == exact.json()["image"] == {"width": 3000, "height": 4000}
    exact_found, fast_found = exact.json()["detections"], fast.json()["detections"]
    assert sorted(d["label"] for d in fast_found) == sorted(d["label"] for d in exact_found)
    assert "bus" in {d["label"] for d in exact_found}
    for found in exact_found:
        box = found["box"]
        assert any(
            other["label"] == found["label"]
            and max(abs(other["box"][k] - box[k]) for k in ("x1", "y1", "x2", "y2")) <= BOX_PX
            for other in fast_found
        ), found
    # Not the same pixels, so not the very same answer: the reduced decode did serve it.
    assert fast_found != exact_found


def test_the_drawn_answer_is_the_full_photo(fast_server: LiveServer, photo: bytes) -> None:
    drawn = post(fast_server, "/detect/image", photo)
    assert drawn.status_code == 200, drawn.text
    assert Image.open(io.BytesIO(drawn.content)).size == (3000, 4000)


def test_classify_takes_fast_decode_too(fast_server: LiveServer, photo: bytes) -> None:
    answer = post(fast_server, "/classify", photo)
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"]
