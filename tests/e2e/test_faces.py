"""Faces over real HTTP: /verify-face, the gallery and /recognize-face on a real uvicorn with the
default models, real photos from shared/images and altered copies of them.

Expectations come from the photos' README (who is in which photo, how many faces) and from
geometry (a flipped photo's face is at the mirrored place), not from the code under test.
"""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageEnhance, ImageOps

from tests.e2e.conftest import LiveServer, StartServer

PROBLEM = "application/problem+json"
Box = tuple[float, float, float, float]


def jpeg(image: Image.Image, quality: int = 92) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def iou(a: Box, b: Box) -> float:
    inter_w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    inter_h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = inter_w * inter_h
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area


def corners(box: dict[str, float]) -> Box:
    return box["x1"], box["y1"], box["x2"], box["y2"]


@pytest.fixture(scope="module")
def photo(images_dir: Path) -> Callable[[str], bytes]:
    return lambda name: (images_dir / name).read_bytes()


def files(**images: bytes) -> dict[str, tuple[str, bytes, str]]:
    return {field: (f"{field}.jpg", data, "image/jpeg") for field, data in images.items()}


def enrol(client: httpx.Client, subject: str, *images: bytes) -> httpx.Response:
    parts = [("image", (f"{i}.jpg", data, "image/jpeg")) for i, data in enumerate(images)]
    return client.post("/faces", data={"subject": subject}, files=parts)


def recognize(client: httpx.Client, image: bytes, **params: Any) -> list[dict[str, Any]]:
    response = client.post("/recognize-face", files=files(image=image), params=params)
    assert response.status_code == 200, response.text
    faces: list[dict[str, Any]] = response.json()["faces"]
    return faces


@pytest.fixture
def cleanup(client: httpx.Client) -> Iterator[list[str]]:
    """Subjects a test enrols in the shared server's gallery, deleted afterwards."""
    subjects: list[str] = []
    yield subjects
    for subject in subjects:
        client.delete(f"/faces/{subject}")


# -- /verify-face ----------------------------------------------------------------------------


def test_verify_same_person_in_two_photos(client: httpx.Client, photo: Any) -> None:
    response = client.post(
        "/verify-face", files=files(image1=photo("fr_obama1.jpg"), image2=photo("fr_obama2.jpg"))
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["verified"] is True
    assert answer["similarity"] >= answer["threshold"] == pytest.approx(0.363)
    assert answer["metric"] == "cosine"
    assert answer["model"]["task"] == "face-embed" and answer["detector"]["task"] == "face-detect"
    assert set(answer["timings_ms"]) == {
        "decode",
        "preprocess",
        "inference",
        "postprocess",
        "total",
    }
    assert len(answer["faces"]) == 2
    for face in answer["faces"]:
        x1, y1, x2, y2 = corners(face["box"])
        assert len(face["landmarks"]) == 5
        assert all(x1 <= x <= x2 and y1 <= y <= y2 for x, y in face["landmarks"])


def test_verify_two_different_people(client: httpx.Client, photo: Any) -> None:
    response = client.post(
        "/verify-face", files=files(image1=photo("fr_obama1.jpg"), image2=photo("fr_biden1.jpg"))
    )
    assert response.status_code == 200, response.text
    assert response.json()["verified"] is False
    assert response.json()["similarity"] < response.json()["threshold"]


def test_verify_threshold_can_be_overridden(client: httpx.Client, photo: Any) -> None:
    images = files(image1=photo("fr_obama1.jpg"), image2=photo("fr_obama2.jpg"))
    answer = client.post("/verify-face", files=images, params={"threshold": 0.99}).json()
    assert answer["threshold"] == 0.99 and answer["verified"] is False


def test_verify_an_image_without_a_face_is_a_422_naming_it(
    client: httpx.Client, photo: Any
) -> None:
    response = client.post(
        "/verify-face", files=files(image1=photo("fr_obama1.jpg"), image2=photo("chelsea.jpg"))
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["detail"].startswith("image2: no face found")


def test_verify_aligned_crops_without_detection(client: httpx.Client, photo: Any) -> None:
    crop = Image.open(io.BytesIO(photo("insightface_tom_hanks_54745.png")))
    brighter = ImageEnhance.Brightness(crop.convert("RGB")).enhance(1.25)
    response = client.post(
        "/verify-face",
        params={"detect": "false"},
        files={
            "image1": ("a.png", photo("insightface_tom_hanks_54745.png"), "image/png"),
            "image2": ("b.jpg", jpeg(brighter), "image/jpeg"),
        },
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["verified"] is True and answer["detector"] is None
    assert answer["faces"][0] == {
        "box": {"x1": 0.0, "y1": 0.0, "x2": 112.0, "y2": 112.0},
        "confidence": None,
        "landmarks": None,
    }


# -- the gallery and /recognize-face ---------------------------------------------------------


ALTERATIONS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "flip": ImageOps.mirror,
    "brightness": lambda image: ImageEnhance.Brightness(image).enhance(1.35),
    "rotation": lambda image: image.rotate(6, resample=Image.Resampling.BILINEAR, expand=True),
    "jpeg q35": lambda image: Image.open(io.BytesIO(jpeg(image, quality=35))),
}


def test_two_enrolled_faces_are_recognised_in_altered_copies_and_the_others_are_unknown(
    client: httpx.Client, photo: Any, cleanup: list[str]
) -> None:
    group = Image.open(io.BytesIO(photo("insightface_t1.jpg"))).convert("RGB")
    found = recognize(client, jpeg(group, 95))
    assert len(found) == 6  # shared/images/README.md: six people, six faces
    enrolled: dict[str, Box] = {}
    for name, face in zip(("t1 first", "t1 second"), found[:2], strict=True):
        x1, y1, x2, y2 = corners(face["box"])
        margin = 0.6 * max(x2 - x1, y2 - y1)
        crop = group.crop((int(x1 - margin), int(y1 - margin), int(x2 + margin), int(y2 + margin)))
        response = enrol(client, name, jpeg(crop))
        assert response.status_code == 201, response.text
        cleanup.append(name)
        enrolled[name] = corners(face["box"])

    width = group.width
    for alteration, alter in ALTERATIONS.items():
        faces = recognize(client, jpeg(alter(group)))
        assert len(faces) == 6, alteration
        subjects = [face["subject"] for face in faces]
        assert sorted(s for s in subjects if s) == sorted(enrolled), (alteration, subjects)
        assert subjects.count(None) == 4, alteration
        for face in faces:
            if face["subject"] is None:
                assert face["similarity"] < face["candidates"][0]["similarity"] + 1e-9
                continue
            assert face["similarity"] >= 0.363
            x1, y1, x2, y2 = enrolled[face["subject"]]
            expected = {"flip": (width - x2, y1, width - x1, y2), "rotation": None}.get(
                alteration, (x1, y1, x2, y2)
            )
            if expected is not None:  # where the geometry is simple, the right face got it
                assert iou(corners(face["box"]), expected) > 0.5, alteration


def test_a_face_never_enrolled_is_unknown(
    client: httpx.Client, photo: Any, cleanup: list[str]
) -> None:
    assert enrol(client, "obama", photo("fr_obama1.jpg")).status_code == 201
    cleanup.append("obama")
    (face,) = recognize(client, photo("fr_kit_harington2.jpg"))
    assert face["subject"] is None
    (face,) = recognize(client, photo("fr_obama2.jpg"))
    assert face["subject"] == "obama"
    assert face["candidates"][0] == {"subject": "obama", "similarity": face["similarity"]}


def test_enrolment_odd_cases_get_precise_answers(
    client: httpx.Client, photo: Any, cleanup: list[str]
) -> None:
    obama1, obama4 = photo("fr_obama1.jpg"), photo("fr_obama4.jpg")
    # Duplicate subject: documented to add faces, one stored per image, never merged.
    first = enrol(client, "dup person", obama1)
    cleanup.append("dup person")
    second = enrol(client, "dup person", obama4, obama1)
    assert (first.status_code, second.status_code) == (201, 201)
    listed = {s["subject"]: s["faces"] for s in client.get("/faces").json()["subjects"]}
    assert len(listed["dup person"]) == 3
    assert len({face["face_id"] for face in listed["dup person"]}) == 3

    # Unicode names are stored in NFC; a decomposed spelling finds the same subject.
    name = "Jos\u0065\u0301 Ñúñez 李"
    response = enrol(client, name, obama1)
    assert response.status_code == 201, response.text
    assert response.json()["subject"] == unicodedata.normalize("NFC", name)
    assert client.delete(f"/faces/{unicodedata.normalize('NFD', name)}").status_code == 204

    for bad, status, slug in [
        ("", 422, "invalid-subject"),
        ("x" * 10_000, 422, "invalid-subject"),
        ("a/b", 422, "invalid-subject"),
        (" padded", 422, "invalid-subject"),
    ]:
        response = enrol(client, bad, obama1)
        assert response.status_code == status, (bad[:20], response.text)
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["type"].endswith(slug)
        assert len(response.text) < 2000  # a 10 kB name is not echoed back

    # One image without a face: 422 naming it, and nothing of the request is stored.
    response = enrol(client, "half enrolled", obama1, photo("chelsea.jpg"))
    assert response.status_code == 422
    assert response.json()["detail"].startswith("image[1]: no face found")
    subjects = {s["subject"] for s in client.get("/faces").json()["subjects"]}
    assert "half enrolled" not in subjects

    assert client.post("/faces", files=files(image=obama1)).status_code == 400  # no subject
    assert client.post("/faces", data={"subject": "nobody"}).status_code in (400, 415)
    text = client.post(
        "/faces", data={"subject": "t"}, files={"image": ("a.txt", b"hi", "text/plain")}
    )
    assert text.status_code == 422 and text.json()["type"].endswith("undecodable-image")

    missing = client.delete("/faces/never enrolled")
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
    face_id = listed["dup person"][0]["face_id"]
    assert client.delete("/faces/dup person/0123456789abcdef").status_code == 404
    assert client.delete(f"/faces/never enrolled/{face_id}").status_code == 404
    assert client.delete(f"/faces/dup person/{face_id}").status_code == 204
    assert client.delete(f"/faces/dup person/{face_id}").status_code == 404


@pytest.mark.parametrize(
    ("params", "status"),
    [({"threshold": "2"}, 422), ({"top_k": "0"}, 422), ({"model": "nope"}, 404),
     ({"detector": "nope"}, 404), ({"threshold": "nan"}, 422)],
)  # fmt: skip
def test_recognize_parameters_are_validated(
    client: httpx.Client, photo: Any, params: dict[str, str], status: int
) -> None:
    response = client.post(
        "/recognize-face", files=files(image=photo("fr_obama1.jpg")), params=params
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM


def test_an_image_without_faces_recognises_nobody(client: httpx.Client, photo: Any) -> None:
    assert recognize(client, photo("chelsea.jpg")) == []


def test_concurrent_enrolment_and_recognition(
    client: httpx.Client, live_server: LiveServer, photo: Any, cleanup: list[str]
) -> None:
    obama, biden = photo("fr_obama4.jpg"), photo("fr_biden2.jpg")
    assert enrol(client, "biden", photo("fr_biden1.jpg")).status_code == 201
    cleanup.append("biden")
    statuses: list[int] = []
    recognised: list[str | None] = []
    names = [f"concurrent {i}" for i in range(12)]
    cleanup.extend(names)

    def enrol_some(chunk: list[str]) -> None:
        with httpx.Client(base_url=live_server.url, timeout=60) as own:
            statuses.extend(enrol(own, name, obama).status_code for name in chunk)

    def recognise_some() -> None:
        with httpx.Client(base_url=live_server.url, timeout=60) as own:
            for _ in range(6):
                faces = recognize(own, biden)
                recognised.append(faces[0]["subject"] if faces else "no face")

    threads = [threading.Thread(target=enrol_some, args=(names[i::3],)) for i in range(3)]
    threads += [threading.Thread(target=recognise_some) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [201] * 12
    assert recognised == ["biden"] * 18  # the largest face of biden2 is Biden, every time
    listed = {s["subject"]: s["faces"] for s in client.get("/faces").json()["subjects"]}
    assert all(len(listed[name]) == 1 for name in names)


# -- durability --------------------------------------------------------------------------------


def test_gallery_survives_a_restart_and_a_kill_during_a_burst_of_enrolments(
    start_server: StartServer, photo: Any, tmp_path: Path
) -> None:
    gallery = tmp_path / "gallery.sqlite3"
    face = Image.open(io.BytesIO(photo("fr_obama4.jpg"))).convert("RGB")
    small = jpeg(face.resize((face.width // 2, face.height // 2)))
    per_request = 3

    with (
        start_server(VISION_GALLERY_PATH=str(gallery)) as server,
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        assert enrol(client, "before restart", small, small).status_code == 201
    with (
        start_server(VISION_GALLERY_PATH=str(gallery)) as server,  # a clean restart
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        listed = client.get("/faces").json()["subjects"]
        assert [(s["subject"], len(s["faces"])) for s in listed] == [("before restart", 2)]
        (found,) = recognize(client, photo("fr_obama2.jpg"))
        assert found["subject"] == "before restart"

        acknowledged: list[str] = []
        stop = threading.Event()

        def burst(worker: int) -> None:
            with httpx.Client(base_url=server.url, timeout=30) as own:
                for i in range(1000):
                    if stop.is_set():
                        return
                    name = f"burst {worker}-{i}"
                    try:
                        response = enrol(own, name, *([small] * per_request))
                    except httpx.TransportError:
                        return  # the server died mid-request
                    if response.status_code == 201:
                        acknowledged.append(name)

        threads = [threading.Thread(target=burst, args=(w,)) for w in range(6)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < 8 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=10)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert len(acknowledged) >= 8

    with sqlite3.connect(gallery) as db:  # SQLite recovers the WAL on open
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        counts = dict(db.execute("SELECT subject, COUNT(*) FROM faces GROUP BY subject"))
    assert counts.pop("before restart") == 2
    assert set(acknowledged) <= set(counts)  # every 201 was durable
    assert set(counts.values()) == {per_request}  # and only whole enrolments are there

    with (
        start_server(VISION_GALLERY_PATH=str(gallery)) as server,
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        listed = client.get("/faces").json()["subjects"]
        assert {s["subject"]: len(s["faces"]) for s in listed} == {
            "before restart": 2,
            **dict.fromkeys(counts, per_request),
        }
        (found,) = recognize(client, photo("fr_obama2.jpg"))
        assert found["subject"] is not None
