"""The DeepStack / CodeProject.AI routes on the wire: bodies exactly as the clients build them
(``deepstack_wire``), answers checked for the fields those clients read.

Expectations come from the clients' code (Frigate divides ``x_min`` by the width and stops at
the first prediction under 0.4; deepstack-python reads ``predictions``, ``userid``,
``message``, ``faces``) and from the fakes' hand-computable answers, not from the routes.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
import requests
from fastapi.testclient import TestClient

from service.api import create_app
from tests.unit.service.api import deepstack_wire as wire
from tests.unit.service.api.face_fakes import (
    FACE_SCORE,
    THRESHOLD,
    FakeEmbedder,
    FakeFaceDetector,
    solid,
)
from tests.unit.service.api.fakes import (
    FakeClassifier,
    FakeDetector,
    FakeRegistry,
    encode,
)

JSON = "application/json"
MULTIPART = {"Content-Type": wire.MULTIPART}
URLENCODED = {"Content-Type": wire.URLENCODED}
RED, REDDISH, GREEN, BLACK = (200, 0, 0), (200, 100, 0), (0, 200, 0), (0, 0, 0)


@pytest.fixture
def face_detector() -> FakeFaceDetector:
    return FakeFaceDetector()


@pytest.fixture
def registry(
    detector: FakeDetector, classifier: FakeClassifier, face_detector: FakeFaceDetector
) -> FakeRegistry:
    return FakeRegistry(detector, classifier, face_detector, FakeEmbedder())


def post(
    client: TestClient, path: str, content: bytes, headers: dict[str, str] = MULTIPART
) -> httpx.Response:
    response: httpx.Response = client.post(path, content=content, headers=headers)
    return response


def ok(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JSON
    body = response.json()
    assert body["success"] is True
    return body


def expected_confidence(cosine: float) -> float:
    """The README's mapping, worked out separately: 0.5 at τ, linear to 0 and to 1."""
    if cosine <= THRESHOLD:
        return max(cosine, 0.0) * 0.5 / THRESHOLD
    return 0.5 + 0.5 * (cosine - THRESHOLD) / (1 - THRESHOLD)


# -- the bodies are what the clients' own library sends ---------------------------------------


def test_handwritten_bodies_are_what_requests_builds_for_these_clients() -> None:
    """Frigate, deepstack-python and deepstack-sdk all call requests.post(data=..., files=...):
    requests' own encoding of those calls equals the bodies the tests below send."""
    jpeg = b"\xff\xd8 not really \xff\xd9"
    calls: dict[bytes, tuple[dict[str, object], dict[str, bytes]]] = {
        wire.frigate(jpeg): ({"api_key": ""}, {"image": jpeg}),
        wire.deepstack_python(jpeg, userid="alice"): (
            {"userid": "alice", "api_key": "", "min_confidence": 0.45},
            {"image": jpeg},
        ),
        wire.deepstack_sdk_register("bob", {"imageA": jpeg, "imageB": jpeg}): (
            {"api_key": None, "userid": "bob"},
            {"imageA": jpeg, "imageB": jpeg},
        ),
    }
    for expected, (data, files) in calls.items():
        prepared = requests.Request("POST", "http://x/", data=data, files=files).prepare()
        boundary = str(prepared.headers["Content-Type"]).split("boundary=", 1)[1]
        assert prepared.body == wire.body_with_boundary(expected, boundary)


# -- object detection ------------------------------------------------------------------------


def test_frigate_detection(client: TestClient, detector: FakeDetector) -> None:
    """Frigate posts a 320x320 JPEG, then for each prediction in order stops at the first
    under 0.4 and divides the corners by the image size."""
    body = ok(post(client, "/v1/vision/detection", wire.frigate(encode(320, 320, "JPEG"))))

    assert detector.calls[0]["confidence"] == 0.4  # DeepStack's default min_confidence
    confidences = [p["confidence"] for p in body["predictions"]]
    assert confidences == sorted(confidences, reverse=True)
    assert body["count"] == 2
    person, bus = body["predictions"]
    # the fake's boxes are fractions of the image: person (0.1, 0.2, 0.5, 0.8), bus (0.6, ...)
    assert (
        person["label"],
        person["x_min"],
        person["y_min"],
        person["x_max"],
        person["y_max"],
    ) == ("person", 32, 64, 160, 256)
    assert (bus["label"], bus["x_min"], bus["y_min"], bus["x_max"], bus["y_max"]) == (
        "bus",
        192,
        32,
        288,
        128,
    )
    for prediction in body["predictions"]:
        assert all(isinstance(prediction[k], int) for k in ("x_min", "y_min", "x_max", "y_max"))
        assert 0 <= prediction["y_min"] / 320 <= prediction["y_max"] / 320 <= 1
    assert math.isclose(person["confidence"], 0.9, rel_tol=1e-6)
    for key in ("inferenceMs", "processMs", "moduleId", "executionProvider", "code"):
        assert key in body
    assert body["moduleId"] == "fake-detector"
    assert body["executionProvider"] == "CPU"  # CPUExecutionProvider, as onnxruntime said


def test_min_confidence_filters(client: TestClient, detector: FakeDetector) -> None:
    body = ok(
        post(client, "/v1/vision/detection", wire.deepstack_python(encode(), min_confidence=0.7))
    )

    assert detector.calls[0]["confidence"] == 0.7
    assert [p["label"] for p in body["predictions"]] == ["person"]


def test_blue_iris_detection_and_model_list(client: TestClient, detector: FakeDetector) -> None:
    ok(post(client, "/v1/vision/detection", wire.blue_iris(encode(64, 48, "JPEG"), "0.55")))
    assert detector.calls[0]["confidence"] == 0.55

    listed = ok(client.post("/v1/vision/custom/list"))
    # the detector, then CodeProject.AI's names that are aliases of it by default
    assert listed["models"] == [
        "fake-detector",
        "ipcam-general",
        "ipcam-dark",
        "ipcam-animal",
        "ipcam-combined",
    ]


def test_custom_model_by_name(client: TestClient) -> None:
    body = ok(post(client, "/v1/vision/custom/fake-detector", wire.deepstack_python(encode())))
    assert body["moduleId"] == "fake-detector"

    missing = post(client, "/v1/vision/custom/license-plate", wire.deepstack_python(encode()))
    assert missing.status_code == 404
    assert missing.json()["success"] is False
    assert "license-plate" in missing.json()["error"]


# -- faces -----------------------------------------------------------------------------------


def test_face_detection(client: TestClient, face_detector: FakeFaceDetector) -> None:
    body = ok(
        post(client, "/v1/vision/face", wire.deepstack_python(solid(RED), min_confidence=0.5))
    )

    assert face_detector.confidences == [0.5]  # min_confidence is the detector's threshold
    (face,) = body["predictions"]
    assert (face["x_min"], face["y_min"], face["x_max"], face["y_max"]) == (16, 12, 48, 36)
    assert math.isclose(face["confidence"], FACE_SCORE, rel_tol=1e-6)


def test_register_with_differently_named_parts_stores_one_face_each(client: TestClient) -> None:
    images = {f"image{uuid.uuid4()}": solid(colour) for colour in (RED, REDDISH)}
    body = ok(
        post(client, "/v1/vision/face/register", wire.deepstack_sdk_register("alice", images))
    )

    assert body["message"] == "face added"
    (subject,) = client.get("/faces").json()["subjects"]
    assert subject["subject"] == "alice"
    assert len(subject["faces"]) == 2


def test_register_recognise_list_delete_as_deepstack_python(client: TestClient) -> None:
    register = wire.deepstack_python(solid(RED), userid="alice")
    assert ok(post(client, "/v1/vision/face/register", register))["message"] == "face added"

    # get_registered_faces(): requests.post(url, data={"api_key": key}) — urlencoded
    listed = ok(client.post("/v1/vision/face/list", content=b"api_key=", headers=URLENCODED))
    assert listed["faces"] == ["alice"]

    known = ok(post(client, "/v1/vision/face/recognize", wire.deepstack_python(solid(REDDISH))))
    (face,) = known["predictions"]
    cosine = 200 / math.hypot(200, 100)  # (1, 0, 0) against (2, 1, 0) / sqrt(5)
    assert face["userid"] == "alice"
    assert math.isclose(face["confidence"], expected_confidence(cosine), rel_tol=1e-5)
    assert (face["x_min"], face["y_min"], face["x_max"], face["y_max"]) == (16, 12, 48, 36)

    stranger = ok(post(client, "/v1/vision/face/recognize", wire.deepstack_python(solid(GREEN))))
    assert [(p["userid"], p["confidence"]) for p in stranger["predictions"]] == [("unknown", 0.0)]

    # deepstack-sdk deleteFace(): data={"api_key": None, "userid": ...} — urlencoded
    ok(client.post("/v1/vision/face/delete", content=b"userid=alice", headers=URLENCODED))
    # deepstack-sdk listFaces(): data={"api_key": None} — an empty urlencoded body
    assert ok(client.post("/v1/vision/face/list", content=b"", headers=URLENCODED))["faces"] == []
    # Idempotent, as DeepStack and CodeProject.AI answer it (Viseron deletes before it
    # registers; deepstack-sdk raises on anything else)
    again = client.post("/v1/vision/face/delete", content=b"userid=alice", headers=URLENCODED)
    assert (again.status_code, again.json()) == (200, {"success": True, "code": 200})
    # the native route keeps its honest 404
    assert client.delete("/faces/alice").status_code == 404


NEAR = (60, 191, 0)  # cosine with red: 60 / hypot(60, 191) = 0.2998, just under τ = 0.363


@pytest.mark.parametrize(
    ("colour", "min_confidence", "userid"),
    [
        (REDDISH, None, "alice"),  # cosine 0.894 >= τ
        (REDDISH, 0.9, "alice"),  # its confidence: 0.5 + 0.5 * (0.894 - 0.363) / 0.637 = 0.917
        (REDDISH, 0.95, "unknown"),
        (NEAR, None, "unknown"),  # the calibrated τ decides: 0.2998 < 0.363
        (NEAR, 0.41, "alice"),  # its confidence: 0.2998 / 0.363 * 0.5 = 0.413
        (NEAR, 0.42, "unknown"),
    ],
)
def test_min_confidence_is_on_the_answer_scale(
    client: TestClient, colour: tuple[int, int, int], min_confidence: float | None, userid: str
) -> None:
    ok(post(client, "/v1/vision/face/register", wire.deepstack_python(solid(RED), userid="alice")))
    fields = [] if min_confidence is None else [wire.text("min_confidence", str(min_confidence))]
    request = wire.body(*fields, wire.requests_file("image", solid(colour)))
    (face,) = ok(post(client, "/v1/vision/face/recognize", request))["predictions"]
    assert face["userid"] == userid
    if userid != "unknown":
        assert face["confidence"] >= (min_confidence or 0.5)


def test_match(client: TestClient) -> None:
    request = wire.body(
        wire.requests_file("image1", solid(RED)), wire.requests_file("image2", solid(REDDISH))
    )
    body = ok(post(client, "/v1/vision/face/match", request))
    assert math.isclose(
        body["similarity"], expected_confidence(200 / math.hypot(200, 100)), rel_tol=1e-5
    )


# -- malformed requests: DeepStack's error shape, a 4xx, never problem+json ------------------


def _failure(response: object, status: int) -> str:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == JSON  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["success"] is False
    assert body["code"] == status
    assert isinstance(body["error"], str) and body["error"]
    return str(body["error"])


@pytest.mark.parametrize(
    ("path", "content", "status", "says"),
    [
        ("/v1/vision/detection", wire.body(wire.text("api_key", "")), 400, "image"),
        ("/v1/vision/detection", wire.body(wire.requests_file("file", b"x")), 400, "'file'"),
        ("/v1/vision/detection", wire.frigate(b"\x00junk bytes\xff" * 10), 422, "image"),
        ("/v1/vision/detection", wire.body(wire.text("image", "abc")), 400, "file part"),
        (
            "/v1/vision/detection",
            wire.deepstack_python(encode(), min_confidence="lots"),  # type: ignore[arg-type]
            422,
            "min_confidence",
        ),
        ("/v1/vision/detection", b"--nope\r\n", 400, "parsed"),
        ("/v1/vision/face/recognize", wire.body(wire.text("api_key", "")), 400, "image"),
        (
            "/v1/vision/face/register",
            wire.body(wire.requests_file("image", solid(RED))),
            400,
            "userid",
        ),
        ("/v1/vision/face/register", wire.body(wire.text("userid", "alice")), 400, "image"),
        (
            "/v1/vision/face/register",
            wire.deepstack_python(solid(BLACK), userid="alice"),
            400,  # as DeepStack answered it (README: the register-failure policy)
            "no face",
        ),
        (
            "/v1/vision/face/register",
            wire.deepstack_python(solid(RED), userid="a/b"),
            422,
            "subject",
        ),
        (
            "/v1/vision/face/match",
            wire.body(wire.requests_file("image1", solid(RED))),
            400,
            "image2",
        ),
        ("/v1/vision/face/delete", wire.body(wire.text("api_key", "")), 400, "userid"),
        ("/v1/vision/scene", wire.frigate(encode()), 404, "/v1/vision/scene"),
    ],
)
def test_malformed_requests(
    client: TestClient, path: str, content: bytes, status: int, says: str
) -> None:
    assert says in _failure(post(client, path, content), status)


def test_json_body_is_415(client: TestClient) -> None:
    response = client.post("/v1/vision/detection", json={"image": "aGk="})
    assert "multipart/form-data" in _failure(response, 415)


def test_get_is_405(client: TestClient) -> None:
    _failure(client.get("/v1/vision/detection"), 405)


def test_huge_body_is_413_before_it_is_read(
    make_client: Callable[..., TestClient], detector: FakeDetector
) -> None:
    client = make_client(max_body_bytes=1000)
    response = post(client, "/v1/vision/detection", wire.frigate(b"\xff\xd8" + b"0" * 5000))

    assert "1000" in _failure(response, 413)
    assert detector.calls == []


def test_huge_chunked_body_is_413(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_body_bytes=1000)
    whole = wire.frigate(b"\xff\xd8" + b"0" * 5000)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(whole), 256):
            yield whole[start : start + 256]

    _failure(client.post("/v1/vision/detection", content=chunks(), headers=MULTIPART), 413)


def test_our_own_routes_keep_problem_json(client: TestClient) -> None:
    response = client.post("/detect", files={"file": ("a.png", encode())})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


def test_models_still_loading_is_503_with_retry_after(
    make_settings: Callable[..., object], detector: FakeDetector
) -> None:
    """A client polling during start-up gets DeepStack's shape too, and when to come back."""
    loading = FakeRegistry(detector, loaded=False)
    with TestClient(create_app(make_settings(), loading)) as client:  # type: ignore[arg-type]
        response = post(client, "/v1/vision/detection", wire.frigate(encode()))
        assert "not ready" in _failure(response, 503)
        assert response.headers["retry-after"]
        loading.load_gate.set()
