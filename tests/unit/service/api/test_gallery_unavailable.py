"""A PostgreSQL gallery out of reach: 503 + Retry-After in every route family, readiness 503,
liveness and detection unaffected, and recovery without a restart when the database returns;
a read-only one (a failover to a standby): writes 503 + Retry-After, reads and readiness kept."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from service.api import create_app
from service.settings import Settings
from tests.support.postgres import PostgresServer, postgres_server
from tests.unit.service.api.face_fakes import FakeEmbedder, FakeFaceDetector, solid
from tests.unit.service.api.fakes import FakeClassifier, FakeDetector, FakeRegistry, encode
from tests.unit.service.faces.read_only import set_read_only

RED, GREEN = (200, 0, 0), (0, 200, 0)


@pytest.fixture
def registry(detector: FakeDetector, classifier: FakeClassifier) -> FakeRegistry:
    return FakeRegistry(detector, classifier, FakeFaceDetector(), FakeEmbedder())


@pytest.fixture
def server() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


@pytest.fixture
def url(server: PostgresServer) -> str:
    """A fresh database of ``server``."""
    return server.create_database(f"t{uuid.uuid4().hex[:12]}")


@pytest.fixture
def start_client(
    make_settings: Callable[..., Settings],
    registry: FakeRegistry,
    url: str,
    start_app: Callable[..., TestClient],
) -> Callable[[], TestClient]:
    """Start the app on the database ``url`` (its lifespan run)."""
    return lambda: start_app(create_app(make_settings(gallery_url=url), registry))


def eventually(client: TestClient, status: int, within_s: float = 10) -> httpx.Response:
    """GET /health/ready until it answers ``status``."""
    deadline = time.monotonic() + within_s
    while (answer := client.get("/health/ready")).status_code != status:
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.05)
    return answer


def enrol(client: TestClient, subject: str, rgb: tuple[int, int, int]) -> httpx.Response:
    return client.post("/faces", data={"subject": subject}, files={"image": solid(rgb)})


def assert_unavailable(answer: httpx.Response, content_type: str) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == content_type
    assert int(answer.headers["retry-after"]) > 0


def test_an_outage_answers_503_everywhere_and_heals(
    start_client: Callable[[], TestClient], server: PostgresServer
) -> None:
    client = start_client()
    eventually(client, 200)
    assert enrol(client, "ann", RED).status_code == 201

    server.stop()
    ready = eventually(client, 503)
    assert "database cannot be reached" in ready.json()["detail"]
    assert client.get("/health/live").status_code == 200
    assert client.post("/detect", files={"image": ("a.png", encode())}).status_code == 200

    assert_unavailable(enrol(client, "bob", GREEN), "application/problem+json")
    assert enrol(client, "bob", GREEN).json()["type"].endswith(":gallery-unavailable")
    assert_unavailable(client.delete("/faces/ann"), "application/problem+json")
    deepstack = client.post(
        "/v1/vision/face/register", data={"userid": "bob"}, files={"image": solid(GREEN)}
    )
    assert_unavailable(deepstack, "application/json")
    assert deepstack.json()["success"] is False
    compreface = client.post(
        "/api/v1/recognition/faces", params={"subject": "bob"}, files={"file": solid(GREEN)}
    )
    assert_unavailable(compreface, "application/json")
    assert set(compreface.json()) == {"message", "code"}

    server.start()
    eventually(client, 200)
    assert enrol(client, "carl", GREEN).status_code == 201
    subjects = [s["subject"] for s in client.get("/faces").json()["subjects"]]
    assert subjects == ["ann", "carl"]  # nothing refused during the outage was stored


def test_a_database_down_at_start_up_keeps_the_gallery_loading_until_it_is_up(
    start_client: Callable[[], TestClient], server: PostgresServer
) -> None:
    server.stop()
    client = start_client()
    assert client.get("/health/live").status_code == 200
    loading = eventually(client, 503)
    assert "still loading" in loading.json()["detail"]
    assert_unavailable(client.get("/faces"), "application/problem+json")
    server.start()
    eventually(client, 200)
    assert enrol(client, "ann", RED).status_code == 201


def test_a_read_only_database_refuses_writes_with_503_in_every_family_and_keeps_reading(
    start_client: Callable[[], TestClient], url: str
) -> None:
    client = start_client()
    eventually(client, 200)
    assert enrol(client, "ann", RED).status_code == 201

    set_read_only(url, True)
    eventually(client, 200)  # reads, and so readiness, are unaffected
    refused = enrol(client, "bob", GREEN)
    assert_unavailable(refused, "application/problem+json")
    assert "read-only" in refused.json()["detail"]
    deepstack = client.post(
        "/v1/vision/face/register", data={"userid": "bob"}, files={"image": solid(GREEN)}
    )
    assert_unavailable(deepstack, "application/json")
    assert "read-only" in deepstack.json()["error"]
    compreface = client.post(
        "/api/v1/recognition/faces", params={"subject": "bob"}, files={"file": solid(GREEN)}
    )
    assert_unavailable(compreface, "application/json")
    assert "read-only" in compreface.json()["message"]
    assert [s["subject"] for s in client.get("/faces").json()["subjects"]] == ["ann"]

    set_read_only(url, False)  # promoted: writes are taken again without a restart
    assert enrol(client, "carl", GREEN).status_code == 201
    subjects = [s["subject"] for s in client.get("/faces").json()["subjects"]]
    assert subjects == ["ann", "carl"]
