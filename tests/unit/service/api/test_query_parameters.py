"""Query parameters as people type them: Ultralytics' names as aliases on /detect, and an
unknown name on a native route is a 422 listing the known ones (never silently ignored)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.unit.service.api.fakes import FakeDetector, encode
from tests.unit.service.api.test_detect import post_image


def test_ultralytics_names_reach_the_detector(client: TestClient, detector: FakeDetector) -> None:
    response = post_image(client, encode(), conf=0.99, iou=0.3, max_det=1)

    assert response.status_code == 200, response.text
    (call,) = detector.calls
    assert (call["confidence"], call["iou"], call["max_detections"]) == (0.99, 0.3, 1)
    assert response.json()["detections"] == []  # nothing reaches 0.99


def test_a_name_and_its_alias_must_agree(client: TestClient, detector: FakeDetector) -> None:
    assert post_image(client, encode(), conf=0.5, confidence=0.5).status_code == 200
    refused = post_image(client, encode(), conf=0.5, confidence=0.6)

    assert refused.status_code == 422
    assert refused.json()["errors"][0]["name"] == "conf"
    assert "another name for confidence" in refused.json()["detail"]
    assert len(detector.calls) == 1


def test_an_alias_is_validated_like_its_name(client: TestClient) -> None:
    refused = post_image(client, encode(), conf=1.5)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["name"] == "conf"


@pytest.mark.parametrize(
    ("path", "typo"),
    [("/detect", "confidance"), ("/classify", "topk"), ("/recognize-face", "treshold")],
)
def test_an_unknown_parameter_is_422_listing_the_known_ones(
    client: TestClient, detector: FakeDetector, path: str, typo: str
) -> None:
    response = client.post(
        path, params={typo: "1"}, files={"image": ("a.png", encode(), "image/png")}
    )

    assert response.status_code == 422, response.text
    body = response.json()
    assert body["type"] == "urn:vision-service:problem:invalid-parameter"
    assert [(e["in"], e["name"]) for e in body["errors"]] == [("query", typo)]
    assert "model" in body["detail"]  # every inference route takes model=
    assert detector.calls == []


def test_the_detect_listing_names_every_parameter(client: TestClient) -> None:
    detail = post_image(client, encode(), imgsz=640).json()["detail"]
    for name in ("confidence", "conf", "iou", "max_detections", "max_det", "classes", "format"):
        assert name in detail


def test_other_route_families_keep_their_loose_habits(client: TestClient) -> None:
    """DeepStack clients send extra fields and query strings; /v1 does not refuse them."""
    response = client.post(
        "/v1/vision/detection",
        params={"whatever": "1"},
        files={"image": ("a.png", encode(), "image/png")},
    )
    assert response.status_code == 200, response.text
