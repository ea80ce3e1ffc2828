"""Liveness, readiness while models load in the background, and GET /models."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from service.api import create_app
from service.settings import Settings
from tests.unit.service.api.fakes import FakeClassifier, FakeDetector, FakeRegistry, encode


def test_ready_is_503_with_each_model_status_until_loading_finishes(
    make_settings: Callable[..., Settings],
) -> None:
    registry = FakeRegistry(FakeDetector(), FakeClassifier(), loaded=False)
    with TestClient(create_app(make_settings(), registry)) as client:
        assert client.get("/health/live").status_code == 200
        waiting = client.get("/health/ready")
        detect = client.post("/detect", files={"image": ("a.png", encode())})

        registry.load_gate.set()
        assert registry.loaded.wait(timeout=5)
        ready = client.get("/health/ready")

    assert waiting.status_code == 503
    assert waiting.headers["content-type"] == "application/problem+json"
    assert int(waiting.headers["retry-after"]) > 0
    body = waiting.json()
    assert body["models"] == {"fake-detector": "loading", "fake-classifier": "loading"}
    assert "fake-detector (loading)" in body["detail"]
    assert detect.status_code == 503
    assert "retry-after" in detect.headers
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "models": {"fake-detector": "ready", "fake-classifier": "ready"},
    }


def test_a_failed_model_keeps_ready_503_and_says_why(
    client: TestClient, registry: FakeRegistry
) -> None:
    registry.statuses["fake-classifier"] = "error: model.onnx is truncated"

    response = client.get("/health/ready")

    assert response.status_code == 503
    assert response.json()["models"]["fake-classifier"] == "error: model.onnx is truncated"
    assert client.get("/health/live").json() == {"status": "live"}


class BrokenRegistry(FakeRegistry):
    def load_all(self) -> None:
        raise RuntimeError("the loader itself failed")


def test_a_loader_that_raises_leaves_the_service_live(
    make_settings: Callable[..., Settings],
) -> None:
    registry = BrokenRegistry(FakeDetector(), loaded=False)
    with TestClient(create_app(make_settings(), registry)) as client:
        assert client.get("/health/live").status_code == 200
        assert client.get("/health/ready").status_code == 503


def test_models_lists_every_model_with_providers_and_status(client: TestClient) -> None:
    response = client.get("/models")

    assert response.status_code == 200
    models = {m["name"]: m for m in response.json()["models"]}
    assert set(models) == {"fake-detector", "fake-classifier"}
    detector = models["fake-detector"]
    assert detector["task"] == "detect"
    assert detector["status"] == "ready"
    assert detector["providers_used"] == ["CPUExecutionProvider"]
    assert detector["providers_requested"] == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert detector["input_size"] == [416, 416]
    assert detector["labels_count"] == 4
    assert detector["thresholds"] == {"confidence": 0.25, "iou": 0.45}


def test_models_passes_through_a_model_that_is_not_loaded(
    client: TestClient, registry: FakeRegistry
) -> None:
    registry.describe = lambda: [{"name": "later", "status": "not pulled"}]  # type: ignore[method-assign]

    response = client.get("/models")

    assert response.status_code == 200
    assert response.json()["models"][0]["name"] == "later"
    assert response.json()["models"][0]["status"] == "not pulled"


def test_with_the_real_registry_a_broken_model_is_reported_not_fatal(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    models_dir = tmp_path / "models"
    (models_dir / "broken").mkdir(parents=True)
    (models_dir / "broken" / "model.onnx").write_bytes(b"this is not an ONNX graph")
    with TestClient(create_app(make_settings(models_dir=models_dir))) as client:
        deadline = time.monotonic() + 10
        while client.get("/health/ready").json()["models"]["broken"] == "loading":
            assert time.monotonic() < deadline, "the loader thread never finished"
            time.sleep(0.02)
        ready = client.get("/health/ready")
        models = client.get("/models").json()["models"]
        detect = client.post("/detect", files={"image": ("a.png", encode())})

    assert ready.status_code == 503
    assert ready.json()["models"]["broken"].startswith("error: ")
    assert [(m["name"], m["status"][:6]) for m in models] == [("broken", "error:")]
    assert detect.status_code == 404
    assert detect.headers["content-type"] == "application/problem+json"
