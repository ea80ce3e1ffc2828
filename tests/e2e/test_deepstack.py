"""The DeepStack API end to end: the real clients against a real uvicorn with the default models.

``deepstack-python`` (what Home Assistant's DeepStack integrations and Viseron run) is used as
is, from PyPI; Frigate's and deepstack-sdk's calls are made exactly as their code makes them,
with ``requests``. Expectations come from shared/images/README.md (who is in which photo, the
bus and its persons), not from the service.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from deepstack import core as ds
from PIL import Image

from tests.e2e.conftest import LiveServer, StartServer
from tests.e2e.corpus import MAX_BODY_BYTES

KEY = "e2e-deepstack-key"


def port_of(server: LiveServer) -> int:
    port = urlsplit(server.url).port
    assert port is not None
    return port


@pytest.fixture(scope="module")
def deepstack_server(
    start_server: StartServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A server of its own, so the gallery starts empty and nobody else enrols into it."""
    gallery = tmp_path_factory.mktemp("deepstack") / "gallery.sqlite3"
    with start_server(VISION_GALLERY_PATH=str(gallery)) as server:
        yield server


@pytest.fixture(scope="module")
def photo(images_dir: Path):
    return lambda name: (images_dir / name).read_bytes()


def frigate_frame(image: bytes, size: int = 320) -> bytes:
    """What Frigate posts: the model-sized RGB tensor saved by Pillow as a JPEG (defaults)."""
    frame = Image.open(io.BytesIO(image)).convert("RGB").resize((size, size))
    with io.BytesIO() as output:
        frame.save(output, format="JPEG")
        return output.getvalue()


def test_detection_with_deepstack_python(deepstack_server: LiveServer, photo) -> None:
    client = ds.DeepstackObject(ip="127.0.0.1", port=port_of(deepstack_server), timeout=60)
    predictions = client.detect(photo("ul_bus.jpg"))

    summary = ds.get_objects_summary(predictions)
    assert summary.get("bus", 0) >= 1, summary
    assert summary.get("person", 0) >= 3, summary
    confidences = [p["confidence"] for p in predictions]
    assert confidences == sorted(confidences, reverse=True)
    assert min(confidences) >= 0.45  # the min_confidence deepstack-python sends
    for p in predictions:  # integer pixels inside the 810x1080 photo
        assert 0 <= p["x_min"] < p["x_max"] <= 810 and 0 <= p["y_min"] < p["y_max"] <= 1080


def test_frigate_detection(deepstack_server: LiveServer, photo) -> None:
    """Frigate's detect_raw: data={"api_key": ""}, files={"image": jpeg}; it reads
    predictions in order, stops under 0.4, and divides the corners by 320."""
    response = requests.post(
        f"{deepstack_server.url}/v1/vision/detection",
        data={"api_key": ""},
        files={"image": frigate_frame(photo("ul_bus.jpg"))},
        timeout=30,
    )
    assert response.status_code == 200
    body = response.json()
    labels = []
    for detection in body["predictions"]:
        if detection["confidence"] < 0.4:
            break
        labels.append(detection["label"])
        corners = (detection[k] / 320 for k in ("y_min", "x_min", "y_max", "x_max"))
        assert all(0.0 <= c <= 1.0 for c in corners)
    assert "person" in labels and "bus" in labels
    assert body["executionProvider"] in {"CPU", "CUDA", "Tensorrt"}
    assert body["moduleId"] == "yolox_nano"


def test_register_recognise_list_delete(deepstack_server: LiveServer, photo) -> None:
    port = port_of(deepstack_server)
    faces = ds.DeepstackFace(ip="127.0.0.1", port=port, timeout=60)
    assert faces.get_registered_faces() == []

    assert faces.register("obama", photo("fr_obama1.jpg")) == "face added"
    assert faces.register("biden", photo("fr_biden1.jpg")) == "face added"
    assert sorted(faces.get_registered_faces()) == ["biden", "obama"]

    obama = ds.get_recognized_faces(faces.recognize(photo("fr_obama2.jpg")))
    biden = ds.get_recognized_faces(faces.recognize(photo("fr_biden2.jpg")))
    assert set(obama) == {"obama"}, obama
    assert set(biden) == {"biden"}, biden  # its 2 background false faces stay "unknown"
    assert obama["obama"] >= 45 and biden["biden"] >= 45  # percent, as Home Assistant shows

    stranger = faces.recognize(photo("fr_kit_harington2.jpg"))  # never registered
    assert stranger, "the face should be found, and be nobody"
    assert {p["userid"] for p in stranger} == {"unknown"}
    assert ds.get_recognized_faces(stranger) == {}

    # deepstack-python has no delete: deepstack-sdk's deleteFace, urlencoded
    deleted = requests.post(
        f"{deepstack_server.url}/v1/vision/face/delete", data={"userid": "obama"}, timeout=30
    )
    assert (deleted.status_code, deleted.json()["success"]) == (200, True)
    assert faces.get_registered_faces() == ["biden"]
    after = ds.get_recognized_faces(faces.recognize(photo("fr_obama2.jpg")))
    assert "obama" not in after


def test_face_match(deepstack_server: LiveServer, photo) -> None:
    url = f"{deepstack_server.url}/v1/vision/face/match"

    def similarity(first: str, second: str) -> float:
        files = {"image1": photo(first), "image2": photo(second)}
        response = requests.post(url, files=files, timeout=60)
        assert response.status_code == 200, response.text
        return float(response.json()["similarity"])

    assert similarity("fr_obama1.jpg", "fr_obama2.jpg") > 0.5  # 0.5: the calibrated threshold
    assert similarity("fr_obama1.jpg", "fr_biden1.jpg") < 0.5


@pytest.mark.parametrize(
    ("data", "files", "status"),
    [
        ({"api_key": ""}, {}, 400),  # no image
        ({"api_key": ""}, {"file": b"\xff\xd8\xff"}, 400),  # the wrong field
        ({"api_key": ""}, {"image": b"GIF89a not really an image"}, 422),  # junk bytes
        ({}, {"image": b"\xff\xd8" + b"\0" * (MAX_BODY_BYTES + 1024)}, 413),  # huge body
    ],
)
def test_malformed_requests_get_deepstack_errors(
    deepstack_server: LiveServer, data: dict[str, str], files: dict[str, bytes], status: int
) -> None:
    response = requests.post(
        f"{deepstack_server.url}/v1/vision/detection", data=data, files=files, timeout=60
    )
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["success"] is False and body["error"]


def test_api_key_as_the_clients_send_it(start_server: StartServer, photo) -> None:
    with start_server(VISION_API_KEY=KEY) as server:
        port = port_of(server)
        keyed = ds.DeepstackObject(ip="127.0.0.1", port=port, api_key=KEY, timeout=60)
        assert ds.get_objects(keyed.detect(photo("ul_bus.jpg")))

        keyless = ds.DeepstackObject(ip="127.0.0.1", port=port, timeout=60)
        with pytest.raises(ds.DeepstackException, match="401"):
            keyless.detect(photo("ul_bus.jpg"))

        listed = ds.DeepstackFace(ip="127.0.0.1", port=port, api_key=KEY).get_registered_faces()
        assert listed == []
