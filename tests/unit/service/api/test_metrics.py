"""GET /metrics: Prometheus text with requests, stage latencies, in-flight and providers."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.unit.service.api.fakes import encode


def samples(client: TestClient) -> dict[str, list[tuple[dict[str, str], float]]]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def value(found: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return sum(v for got, v in found.get(name, []) if labels.items() <= got.items())


def test_requests_are_counted_by_route_model_and_status(client: TestClient) -> None:
    client.post("/detect", files={"image": ("a.png", encode())})
    client.post("/detect", files={"image": ("a.png", encode())})
    client.post("/detect", files={"image": ("a.png", b"junk")})
    client.post("/classify", files={"image": ("a.png", encode())})
    client.get("/nowhere")

    found = samples(client)

    total = "vision_requests_total"
    assert value(found, total, route="/detect", model="fake-detector", status="200") == 2
    assert value(found, total, route="/detect", model="fake-detector", status="422") == 1
    assert value(found, total, route="/classify", model="fake-classifier", status="200") == 1
    assert value(found, total, route="unmatched", model="", status="404") == 1


def test_unknown_model_names_never_become_labels(client: TestClient) -> None:
    client.post("/detect", params={"model": "attacker-chosen"}, files={"image": ("a", b"")})

    found = samples(client)

    assert value(found, "vision_requests_total", route="/detect", status="404") == 1
    labels = [got for got, _ in found["vision_requests_total"]]
    assert all(got["model"] != "attacker-chosen" for got in labels)


def test_stage_histograms_per_stage_and_model(client: TestClient) -> None:
    client.post("/detect", files={"image": ("a.png", encode())})

    found = samples(client)

    for stage in ("decode", "preprocess", "inference", "postprocess"):
        count = value(
            found, "vision_stage_duration_seconds_count", stage=stage, model="fake-detector"
        )
        assert count == 1, stage
    # The fake reports 7.25 ms of inference: the histogram's sum is in seconds.
    inference_sum = value(
        found, "vision_stage_duration_seconds_sum", stage="inference", model="fake-detector"
    )
    assert abs(inference_sum - 0.00725) < 1e-9
    assert value(found, "vision_request_duration_seconds_count", route="/detect") == 1


def test_in_flight_gauge_and_model_provider_info(client: TestClient) -> None:
    found = samples(client)

    assert value(found, "vision_requests_in_flight") == 1  # the scrape itself
    assert (
        value(
            found,
            "vision_model_info",
            model="fake-detector",
            task="detect",
            provider="CPUExecutionProvider",
        )
        == 1
    )
    assert value(found, "vision_model_ready", model="fake-classifier") == 1


def test_rejected_requests_are_counted(make_client: Callable[..., TestClient]) -> None:
    client = make_client(api_key="k", max_body_bytes=100)
    client.post("/detect", content=b"x")
    client.post("/detect", content=b"x" * 200, headers={"X-API-Key": "k"})

    client.headers["X-API-Key"] = "k"
    found = samples(client)

    assert value(found, "vision_requests_total", status="401") == 1
    assert value(found, "vision_requests_total", status="413") == 1


def test_each_app_has_its_own_registry(make_client: Callable[..., TestClient]) -> None:
    first, second = make_client(), make_client()
    first.post("/detect", files={"image": ("a.png", encode())})

    assert value(samples(first), "vision_requests_total", route="/detect") == 1
    assert value(samples(second), "vision_requests_total", route="/detect") == 0
