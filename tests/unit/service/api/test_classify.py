"""POST /classify over a fake classifier."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.unit.service.api.fakes import (
    CLASSIFY_LABELS,
    CLASSIFY_PROBABILITIES,
    PROVIDER,
    FakeClassifier,
    encode,
)


def test_top_k_predictions_most_probable_first(
    client: TestClient, classifier: FakeClassifier
) -> None:
    response = client.post(
        "/classify", params={"top_k": 3}, files={"image": ("c.jpg", encode(20, 10, "JPEG"))}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["model"] == {"name": "fake-classifier", "task": "classify", "provider": PROVIDER}
    # By hand from CLASSIFY_PROBABILITIES: 0.4 Egyptian cat, 0.3 tiger cat, then 0.1 lynx.
    assert [p["label"] for p in body["predictions"]] == ["Egyptian cat", "tiger cat", "lynx"]
    assert [p["class_id"] for p in body["predictions"]] == [2, 1, 3]
    assert [p["score"] for p in body["predictions"]] == pytest.approx([0.4, 0.3, 0.1])
    assert set(body["timings_ms"]) == {"decode", "preprocess", "inference", "postprocess", "total"}
    assert classifier.calls == [{"shape": (10, 20, 3), "top_k": 3}]


def test_top_k_defaults_to_five(client: TestClient, classifier: FakeClassifier) -> None:
    response = client.post("/classify", files={"image": ("c.png", encode())})

    assert len(response.json()["predictions"]) == 5
    assert classifier.calls[0]["top_k"] == 5
    assert len(CLASSIFY_LABELS) == len(CLASSIFY_PROBABILITIES) > 5


@pytest.mark.parametrize("top_k", ["0", "1001", "three", "-2"])
def test_top_k_out_of_range_is_422(
    client: TestClient, classifier: FakeClassifier, top_k: str
) -> None:
    response = client.post(
        "/classify", params={"top_k": top_k}, files={"image": ("c.png", encode())}
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["name"] == "top_k"
    assert classifier.calls == []


def test_detector_is_not_a_classifier(client: TestClient) -> None:
    response = client.post(
        "/classify", params={"model": "fake-detector"}, files={"image": ("c.png", encode())}
    )

    assert response.status_code == 404
    assert "fake-classifier" in response.json()["detail"]
