"""The real service over real HTTP: default models pulled from shared/models, a uvicorn process
on 127.0.0.1, answers compared with what the library computes in-process on the same photo."""

from __future__ import annotations

import base64
import io
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnxruntime
import pytest
from numpy.typing import NDArray
from PIL import Image, ImageOps
from prometheus_client.parser import text_string_to_metric_families

from service.pipelines.classifier import Classifier
from service.pipelines.detector import Detector
from service.pipelines.registry import ModelRegistry
from service.settings import Settings
from tests.conftest import REPO_ROOT
from tests.e2e.conftest import LiveServer, StartServer

PROBLEM = "application/problem+json"
CATS = {"Egyptian cat", "tabby", "tiger cat"}
TIMING_STAGES = {"decode", "preprocess", "inference", "postprocess", "total"}


def default_model_names() -> set[str]:
    """The catalog's default set, read from the TOML itself rather than through the service."""
    catalog = tomllib.loads((REPO_ROOT / "models" / "catalog.toml").read_text())
    return {name for name, model in catalog["models"].items() if model.get("default")}


@pytest.fixture(scope="module")
def in_process(live_server: LiveServer) -> Iterator[ModelRegistry]:
    """The same models, loaded by the library in this process, as the reference."""
    registry = ModelRegistry(Settings(models_dir=live_server.models_dir))
    registry.load_all()
    assert registry.ready, registry.status()
    yield registry


@pytest.fixture(scope="module")
def bus_photo(images_dir: Path) -> bytes:
    return (images_dir / "ul_bus.jpg").read_bytes()


@pytest.fixture(scope="module")
def bus_answer(live_server: LiveServer, bus_photo: bytes) -> dict[str, Any]:
    response = httpx.post(
        f"{live_server.url}/detect",
        files={"image": ("ul_bus.jpg", bus_photo, "image/jpeg")},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def upright_pixels(data: bytes) -> NDArray[np.uint8]:
    return np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))


def boxes_of(answer: dict[str, Any]) -> NDArray[np.float64]:
    return np.array(
        [[d["box"][k] for k in ("x1", "y1", "x2", "y2")] for d in answer["detections"]]
    ).reshape(-1, 4)


def png_of(pixels: NDArray[np.uint8]) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, "PNG")
    return buffer.getvalue()


# ---------------------------------------------------------------- health


def test_ready_was_503_with_each_model_status_until_warm_up_finished(
    live_server: LiveServer,
) -> None:
    defaults = default_model_names()
    assert live_server.live_first is not None
    assert live_server.live_first.status == 200
    first, *_, last = live_server.ready_answers  # polled from the moment the process started

    assert first.status == 503, "the first /health/ready answer came after warm-up"
    assert first.body["status"] == 503
    assert set(first.body["models"]) == defaults
    assert any(status == "loading" for status in first.body["models"].values())
    assert all(answer.status == 503 for answer in live_server.ready_answers[:-1])
    assert last.status == 200
    assert last.body == {"status": "ready", "models": dict.fromkeys(defaults, "ready")}


def test_live_and_ready_answer_once_warm(client: httpx.Client) -> None:
    assert client.get("/health/live").json() == {"status": "live"}
    assert client.get("/health/ready").status_code == 200


# ---------------------------------------------------------------- /detect


def test_detect_finds_the_bus_and_the_persons_as_the_library_does(
    bus_answer: dict[str, Any], bus_photo: bytes, in_process: ModelRegistry
) -> None:
    labels = [d["label"] for d in bus_answer["detections"]]
    assert "bus" in labels
    assert labels.count("person") >= 3

    pixels = upright_pixels(bus_photo)
    detector = in_process.get(Detector)
    assert isinstance(detector, Detector)
    expected = detector.run(pixels)
    assert bus_answer["image"] == {"width": pixels.shape[1], "height": pixels.shape[0]}
    np.testing.assert_allclose(boxes_of(bus_answer), expected.xyxy, atol=1e-3, rtol=0)
    assert [d["class_id"] for d in bus_answer["detections"]] == expected.class_id.tolist()
    assert labels == list(expected.labels)
    np.testing.assert_allclose(
        [d["confidence"] for d in bus_answer["detections"]], expected.confidence, atol=1e-5
    )


def test_every_answer_names_model_task_provider_and_stage_timings(
    bus_answer: dict[str, Any], client: httpx.Client
) -> None:
    described = {m["name"]: m for m in client.get("/models").json()["models"]}
    model = bus_answer["model"]

    assert model["task"] == "detect"
    assert model["provider"] == described[model["name"]]["provider"]
    assert set(bus_answer["timings_ms"]) == TIMING_STAGES
    assert all(ms >= 0 for ms in bus_answer["timings_ms"].values())


def test_exif_orientation_6_gives_the_upright_boxes(
    client: httpx.Client, bus_photo: bytes, bus_answer: dict[str, Any]
) -> None:
    upright = Image.open(io.BytesIO(bus_photo)).convert("RGB")
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what orientation 6 turns back
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", quality=95, exif=exif)
    rotated_jpeg = buffer.getvalue()
    # The reference: the same stored pixels turned upright by hand (90 degrees clockwise).
    by_hand = np.rot90(np.asarray(Image.open(io.BytesIO(rotated_jpeg)).convert("RGB")), k=-1)

    answer = client.post("/detect", files={"image": ("r.jpg", rotated_jpeg, "image/jpeg")}).json()
    reference = client.post("/detect", files={"image": ("u.png", png_of(by_hand))}).json()

    assert stored.size == (upright.height, upright.width)
    assert answer["image"] == {"width": upright.width, "height": upright.height}
    assert [d["label"] for d in answer["detections"]] == [
        d["label"] for d in reference["detections"]
    ]
    np.testing.assert_allclose(boxes_of(answer), boxes_of(reference), atol=1e-3, rtol=0)
    # ...and within JPEG re-encoding noise of the original photo's boxes.
    assert [d["label"] for d in answer["detections"]] == [
        d["label"] for d in bus_answer["detections"]
    ]
    np.testing.assert_allclose(boxes_of(answer), boxes_of(bus_answer), atol=2.0, rtol=0)


def test_format_image_is_a_decodable_jpeg_of_the_photo_size(
    client: httpx.Client, bus_photo: bytes
) -> None:
    response = client.post(
        "/detect", params={"format": "image"}, files={"image": ("bus.jpg", bus_photo)}
    )

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    drawn = Image.open(io.BytesIO(response.content))
    drawn.load()
    assert drawn.format == "JPEG"
    assert drawn.size == Image.open(io.BytesIO(bus_photo)).size


@pytest.mark.parametrize("prefix", ["", "data:image/jpeg;base64,"], ids=["base64", "data-url"])
def test_json_base64_gives_the_multipart_answer(
    client: httpx.Client, bus_photo: bytes, bus_answer: dict[str, Any], prefix: str
) -> None:
    text = prefix + base64.b64encode(bus_photo).decode()
    response = client.post("/detect", json={"image": text})

    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["image"] == bus_answer["image"]
    assert [d["label"] for d in answer["detections"]] == [
        d["label"] for d in bus_answer["detections"]
    ]
    np.testing.assert_allclose(boxes_of(answer), boxes_of(bus_answer), atol=1e-3, rtol=0)


def test_classes_filter_by_label_keeps_only_that_class(
    client: httpx.Client, bus_photo: bytes, bus_answer: dict[str, Any]
) -> None:
    response = client.post(
        "/detect", params={"classes": "bus"}, files={"image": ("bus.jpg", bus_photo)}
    )

    wanted = [d for d in bus_answer["detections"] if d["label"] == "bus"]
    assert response.status_code == 200
    assert [d["label"] for d in response.json()["detections"]] == ["bus"] * len(wanted)


# ---------------------------------------------------------------- /classify


def test_classify_puts_a_cat_first(
    client: httpx.Client, images_dir: Path, in_process: ModelRegistry
) -> None:
    photo = (images_dir / "chelsea.jpg").read_bytes()
    response = client.post("/classify", files={"image": ("chelsea.jpg", photo, "image/jpeg")})

    assert response.status_code == 200, response.text
    answer = response.json()
    predictions = answer["predictions"]
    assert predictions[0]["label"] in CATS
    assert len(predictions) == 5
    scores = [p["score"] for p in predictions]
    assert scores == sorted(scores, reverse=True)
    assert 0 < sum(scores) <= 1 + 1e-6
    assert answer["model"]["task"] == "classify"
    assert set(answer["timings_ms"]) == TIMING_STAGES
    classifier = in_process.get(Classifier)
    assert isinstance(classifier, Classifier)
    expected = classifier.run(upright_pixels(photo))
    assert [p["class_id"] for p in predictions] == [p.class_id for p in expected.predictions]


# ---------------------------------------------------------------- /models, /metrics, /docs


def test_models_lists_the_default_set_ready_on_the_providers_onnxruntime_has(
    client: httpx.Client,
) -> None:
    models = client.get("/models").json()["models"]
    available = onnxruntime.get_available_providers()

    assert {m["name"] for m in models} == default_model_names()
    for model in models:
        assert model["status"] == "ready"
        assert model["providers_used"], model
        assert set(model["providers_used"]) <= set(available)
        if available == ["CPUExecutionProvider"]:  # this machine: a CPU-only onnxruntime
            assert model["providers_used"] == ["CPUExecutionProvider"]
        assert model["provider"] == model["providers_used"][0]


def test_metrics_expose_requests_stages_in_flight_and_providers(
    client: httpx.Client, bus_answer: dict[str, Any]
) -> None:
    samples = [
        sample
        for family in text_string_to_metric_families(client.get("/metrics").text)
        for sample in family.samples
    ]
    model, provider = bus_answer["model"]["name"], bus_answer["model"]["provider"]

    def values(name: str, **labels: str) -> list[float]:
        return [
            s.value
            for s in samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        ]

    assert values("vision_requests_total", route="/detect", model=model, status="200")[0] >= 1
    assert values("vision_request_duration_seconds_count", route="/detect")[0] >= 1
    for stage in ("decode", "preprocess", "inference", "postprocess"):
        assert values("vision_stage_duration_seconds_count", stage=stage, model=model)[0] >= 1
    assert values("vision_requests_in_flight") == [1.0]  # this very scrape
    assert values("vision_model_info", model=model, task="detect", provider=provider) == [1.0]
    assert values("vision_model_ready", model=model) == [1.0]


def test_docs_and_openapi_are_served(client: httpx.Client) -> None:
    assert "text/html" in client.get("/docs").headers["content-type"]
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/detect", "/classify", "/models", "/metrics", "/health/ready"} <= set(paths)


# ---------------------------------------------------------------- API key


def test_api_key_guards_every_route_but_the_probes(start_server: StartServer) -> None:
    key = "e2e-key-0f3a"
    with start_server(VISION_API_KEY=key) as server, httpx.Client(base_url=server.url) as http:
        missing = http.get("/models")
        wrong = http.get("/models", headers={"X-API-Key": key + "x"})
        right = http.get("/models", headers={"X-API-Key": key})
        detect = http.post("/detect", files={"image": ("x.png", b"x")})

        for refused in (missing, wrong, detect):
            assert refused.status_code == 401
            assert refused.headers["content-type"] == PROBLEM
            assert refused.json()["detail"]
        assert right.status_code == 200
        assert http.get("/health/live").status_code == 200
        assert http.get("/health/ready").status_code == 200
