"""POST /detect over a fake detector: inputs, parameters, answer shape, format=image."""

from __future__ import annotations

import base64
import io
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from service.api.errors import InvalidParameterError
from service.api.routes.detect import parse_classes
from tests.unit.service.api.fakes import (
    DETECT_LABELS,
    FRACTION_BOXES,
    PROVIDER,
    TIMINGS,
    FakeDetector,
    encode,
)

PROBLEM = "application/problem+json"


def expected_boxes(width: int, height: int) -> list[Any]:
    return [
        pytest.approx({"x1": x1 * width, "y1": y1 * height, "x2": x2 * width, "y2": y2 * height})
        for (x1, y1, x2, y2), _, _ in FRACTION_BOXES
    ]


def post_image(client: TestClient, data: bytes, **params: object) -> httpx.Response:
    response: httpx.Response = client.post(
        "/detect", params=params, files={"image": ("photo.png", data)}
    )
    return response


def test_multipart_answer_has_model_image_detections_and_timings(
    client: TestClient, detector: FakeDetector
) -> None:
    response = client.post("/detect", files={"image": ("a.png", encode(64, 48), "image/png")})

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["model"] == {"name": "fake-detector", "task": "detect", "provider": PROVIDER}
    assert body["image"] == {"width": 64, "height": 48}
    assert [d["box"] for d in body["detections"]] == expected_boxes(64, 48)
    assert [d["class_id"] for d in body["detections"]] == [0, 3]
    assert [d["label"] for d in body["detections"]] == ["person", "bus"]
    assert [d["confidence"] for d in body["detections"]] == pytest.approx([0.9, 0.6])
    timings = body["timings_ms"]
    assert set(timings) == {"decode", "preprocess", "inference", "postprocess", "total"}
    assert timings["inference"] == TIMINGS.inference_ms
    assert timings["decode"] >= 0
    assert timings["total"] >= timings["decode"]
    assert "inference;dur=7.25" in response.headers["server-timing"]
    (call,) = detector.calls
    assert call["shape"] == (48, 64, 3)
    assert call["dtype"].name == "uint8"
    assert call["confidence"] is None and call["iou"] is None and call["classes"] is None


@pytest.mark.parametrize("prefix", ["", "data:image/png;base64,"])
def test_json_base64_and_data_url(client: TestClient, prefix: str) -> None:
    payload = {"image": prefix + base64.b64encode(encode(30, 20)).decode()}
    response = client.post("/detect", json=payload)

    assert response.status_code == 200
    assert response.json()["image"] == {"width": 30, "height": 20}


def test_exif_orientation_is_applied_before_detection(
    client: TestClient, detector: FakeDetector
) -> None:
    rotated = encode(64, 48, "JPEG", exif_orientation=6)  # stored landscape, shown portrait
    body = post_image(client, rotated).json()

    assert body["image"] == {"width": 48, "height": 64}
    assert detector.calls[0]["shape"] == (64, 48, 3)
    assert [d["box"] for d in body["detections"]] == expected_boxes(48, 64)


def test_parameters_reach_the_detector(client: TestClient, detector: FakeDetector) -> None:
    response = post_image(
        client, encode(), confidence=0.7, iou=0.3, max_detections=10, classes="person,3"
    )

    assert response.status_code == 200
    (call,) = detector.calls
    assert (call["confidence"], call["iou"], call["max_detections"]) == (0.7, 0.3, 10)
    assert call["classes"] == [0, 3]
    assert [d["label"] for d in response.json()["detections"]] == ["person"]  # 0.6 < 0.7


def test_no_detections_is_an_empty_list(client: TestClient) -> None:
    response = post_image(client, encode(), classes="car")

    assert response.status_code == 200
    assert response.json()["detections"] == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("confidence", "1.5"),
        ("confidence", "-0.1"),
        ("confidence", "abc"),
        ("confidence", "nan"),
        ("iou", "2"),
        ("iou", "inf"),
        ("max_detections", "0"),
        ("max_detections", "10001"),
        ("max_detections", "2.5"),
        ("max_detections", "9" * 5000),
        ("format", "png"),
        ("model", ""),
    ],
)
def test_invalid_parameters_are_422_naming_the_parameter(
    client: TestClient, detector: FakeDetector, name: str, value: str
) -> None:
    response = post_image(client, encode(), **{name: value})

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == 422
    assert [(e["in"], e["name"]) for e in body["errors"]] == [("query", name)]
    assert name in body["detail"]
    assert detector.calls == []


def test_unknown_class_label_is_422_naming_it(client: TestClient) -> None:
    response = post_image(client, encode(), classes="person,zebra")

    assert response.status_code == 422
    body = response.json()
    assert "'zebra'" in body["detail"]
    assert body["errors"][0]["name"] == "classes"


def test_unknown_model_is_404_listing_known_ones(client: TestClient) -> None:
    response = post_image(client, encode(), model="../../etc/passwd")

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert "fake-detector" in response.json()["detail"]


def test_model_of_another_task_is_404(client: TestClient) -> None:
    assert post_image(client, encode(), model="fake-classifier").status_code == 404


def test_format_image_is_a_jpeg_of_the_upright_size(client: TestClient) -> None:
    rotated = encode(64, 48, "JPEG", exif_orientation=6)
    response = post_image(client, rotated, format="image")

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    picture = Image.open(io.BytesIO(response.content))
    assert picture.format == "JPEG"
    assert picture.size == (48, 64)
    assert "total;dur=" in response.headers["server-timing"]


class TestParseClasses:
    def test_ids_labels_and_case_insensitive_labels_in_order_without_repeats(self) -> None:
        assert parse_classes("2, Person ,bus,0,2", DETECT_LABELS) == [2, 0, 3]

    def test_exact_label_wins_over_case_folded(self) -> None:
        assert parse_classes("Cat", ["cat", "Cat"]) == [1]

    @pytest.mark.parametrize(
        "text", ["4", "-1", "zebra", "person,,car", "1.5", "²", "9" * 5000, ""]
    )
    def test_refused(self, text: str) -> None:
        with pytest.raises(InvalidParameterError) as caught:
            parse_classes(text, DETECT_LABELS)
        assert caught.value.errors[0].name == "classes"

    def test_any_non_negative_id_when_the_model_has_no_labels(self) -> None:
        assert parse_classes("7", []) == [7]


def test_a_truncated_candidate_list_is_reported_and_counted(
    client: TestClient, detector: FakeDetector
) -> None:
    assert post_image(client, encode()).json()["truncated"] is False
    detector.truncated = True
    assert post_image(client, encode()).json()["truncated"] is True
    assert post_image(client, encode()).json()["truncated"] is True
    metrics = client.get("/metrics").text
    assert 'vision_detections_truncated_total{model="fake-detector"} 2.0' in metrics
