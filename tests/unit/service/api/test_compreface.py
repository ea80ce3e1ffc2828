"""The CompreFace routes on the fakes: CompreFace's shapes, its ``{message, code}`` errors
(code 28 for no face), pagination, subjects, the similarity scale and crops."""

from __future__ import annotations

import base64
import math
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.unit.service.api.face_fakes import (
    FACE_SCORE,
    THRESHOLD,
    FakeEmbedder,
    FakeFaceDetector,
    solid,
)
from tests.unit.service.api.fakes import FakeClassifier, FakeDetector, FakeRegistry

RED, REDDISH, GREEN, BLACK = (200, 0, 0), (200, 100, 0), (0, 200, 0), (0, 0, 0)
FACES = "/api/v1/recognition/faces"


@pytest.fixture
def registry(detector: FakeDetector, classifier: FakeClassifier) -> FakeRegistry:
    return FakeRegistry(detector, classifier, FakeFaceDetector(), FakeEmbedder())


@pytest.fixture
def cf(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(gallery_keep_crops=True)


def add(client: TestClient, subject: str, rgb: tuple[int, int, int]) -> dict[str, str]:
    answer = client.post(FACES, params={"subject": subject}, files={"file": solid(rgb)})
    assert answer.status_code == 201, answer.text
    body: dict[str, str] = answer.json()
    return body


def expected_similarity(cosine: float) -> float:
    """0.5 at τ, linear to 0 at cosine 0 and to 1 at cosine 1 (README)."""
    if cosine <= THRESHOLD:
        return round(max(cosine, 0.0) * 0.5 / THRESHOLD, 5)
    return round(0.5 + 0.5 * (cosine - THRESHOLD) / (1 - THRESHOLD), 5)


def test_recognize_answers_every_nearest_subject_best_first(cf: TestClient) -> None:
    add(cf, "alice", RED)
    add(cf, "bob", GREEN)
    answer = cf.post(
        "/api/v1/recognition/recognize",
        params={"prediction_count": 2, "face_plugins": "landmarks,age", "status": "true"},
        json={"file": base64.b64encode(solid(REDDISH)).decode()},
    )
    assert answer.status_code == 200, answer.text
    (face,) = answer.json()["result"]
    cosine_red = 200 / math.hypot(200, 100)
    cosine_green = 100 / math.hypot(200, 100)
    assert face["subjects"] == [
        {"subject": "alice", "similarity": expected_similarity(cosine_red)},
        {"subject": "bob", "similarity": expected_similarity(cosine_green)},
    ]
    assert face["box"] == {"probability": FACE_SCORE, "x_min": 16, "y_min": 12, "x_max": 48,
                           "y_max": 36}  # fmt: skip
    assert len(face["landmarks"]) == 5 and "execution_time" in face
    assert answer.json()["plugins_versions"]["calculator"] == "fake-embedder"

    plain = cf.post("/api/v1/recognition/recognize", files={"file": solid(GREEN)}).json()
    (face,) = plain["result"]
    assert [s["subject"] for s in face["subjects"]] == ["bob"]  # prediction_count 1
    assert set(face) == {"box", "subjects"} and "plugins_versions" not in plain


def test_no_face_is_code_28_everywhere(cf: TestClient) -> None:
    for path, params in (
        ("/api/v1/recognition/recognize", {}),
        ("/api/v1/detection/detect", {}),
        (FACES, {"subject": "alice"}),
        (FACES, {"subject": "alice", "det_prob_threshold": "0.95"}),  # the face scores 0.9
    ):
        image = solid(BLACK) if "det_prob_threshold" not in params else solid(RED)
        answer = cf.post(path, params=params, files={"file": image})
        assert answer.status_code == 400, (path, answer.text)
        assert answer.json()["code"] == 28
        assert set(answer.json()) == {"message", "code"}


def test_examples_pages_and_deletes(cf: TestClient) -> None:
    ids = [add(cf, "alice", RED)["image_id"], add(cf, "alice", REDDISH)["image_id"]]
    bob = add(cf, "bob", GREEN)["image_id"]
    page = cf.get(FACES, params={"page": 1, "size": 2}).json()
    assert page == {
        "faces": [{"image_id": bob, "subject": "bob"}],
        "page_number": 1,
        "page_size": 2,
        "total_pages": 2,
        "total_elements": 3,
    }
    assert cf.get(FACES, params={"subject": "bob"}).json()["total_elements"] == 1
    assert cf.get(f"{FACES}/{ids[0]}/img").content.startswith(b"\x89PNG")
    assert cf.delete(f"{FACES}/{ids[0]}").json() == {"image_id": ids[0], "subject": "alice"}
    missing = cf.delete(f"{FACES}/{ids[0]}")
    assert (missing.status_code, missing.json()["code"]) == (404, 11)
    assert cf.post(f"{FACES}/delete", json=[ids[1], "nope"]).json() == [
        {"image_id": ids[1], "subject": "alice"}
    ]
    assert cf.delete(FACES, params={"subject": "nobody"}).json() == {"deleted": 0}
    assert cf.delete(FACES).json() == {"deleted": 1}  # no subject: everyone


def test_subjects_crud(cf: TestClient) -> None:
    assert cf.post("/api/v1/recognition/subjects", json={"subject": "carol"}).status_code == 201
    add(cf, "alice", RED)
    assert cf.get("/api/v1/recognition/subjects").json() == {"subjects": ["alice", "carol"]}
    renamed = cf.put("/api/v1/recognition/subjects/alice", json={"subject": "alicia"})
    assert renamed.json() == {"updated": True}
    assert cf.delete("/api/v1/recognition/subjects/alicia").json() == {"subject": "alicia"}
    gone = cf.delete("/api/v1/recognition/subjects/alicia")
    assert (gone.status_code, gone.json()["code"]) == (404, 42)
    assert cf.delete("/api/v1/recognition/subjects").json() == {"deleted": 1}  # carol
    bad = cf.post("/api/v1/recognition/subjects", json={"name": "x"})
    assert bad.status_code == 400 and set(bad.json()) == {"message", "code"}
    invalid = cf.post("/api/v1/recognition/subjects", json={"subject": "a/b"})
    assert (invalid.status_code, invalid.json()["code"]) == (400, 26)


def test_verify_ranks_the_target_faces(cf: TestClient) -> None:
    answer = cf.post(
        "/api/v1/verification/verify",
        files={"source_image": solid(RED), "target_image": solid(REDDISH)},
    )
    assert answer.status_code == 200, answer.text
    (result,) = answer.json()["result"]
    (match,) = result["face_matches"]
    assert match["similarity"] == expected_similarity(200 / math.hypot(200, 100))
    assert set(result["source_image_face"]) == {"box"}


def test_crops_are_not_kept_by_default(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    image_id = add(client, "alice", RED)["image_id"]
    answer = client.get(f"{FACES}/{image_id}/img")
    assert answer.status_code == 404 and "VISION_GALLERY_KEEP_CROPS" in answer.json()["message"]


def test_client_errors_are_compreface_4xx(cf: TestClient) -> None:
    for method, path, kwargs in (
        ("get", FACES, {"params": {"page": "-1"}}),
        ("post", "/api/v1/recognition/recognize", {"params": {"limit": "x"}}),
        (
            "post",
            "/api/v1/recognition/recognize",
            {"content": b"{}", "headers": {"Content-Type": "application/json"}},
        ),
        ("post", "/api/v1/recognition/recognize", {"files": {"file": b"not an image"}}),
        ("post", f"{FACES}/delete", {"json": {"not": "a list"}}),
        ("get", "/api/v1/nothing-here", {}),
    ):
        answer = cf.request(method, path, **kwargs)
        assert 400 <= answer.status_code < 500, (path, answer.text)
        assert set(answer.json()) == {"message", "code"}, (path, answer.text)


def test_the_key_as_compreface_clients_send_it(make_client: Callable[..., TestClient]) -> None:
    client = make_client(api_key="s3cret")
    assert client.get(FACES).json()["message"].startswith("this service requires")
    assert client.get(FACES, headers={"x-api-key": "s3cret"}).status_code == 200
