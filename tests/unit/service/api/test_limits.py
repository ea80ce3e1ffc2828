"""Body size (413, also for chunked bodies, without reading them whole) and the API key (401)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api import create_app
from service.api.limits import is_compat_path
from service.settings import Settings
from tests.unit.service.api.asgi_calls import run_asgi
from tests.unit.service.api.fakes import FakeDetector, FakeRegistry, encode

PROBLEM = "application/problem+json"
LIMIT = 1000


@pytest.fixture
def small_app(make_settings: Callable[..., Settings], registry: FakeRegistry) -> Any:
    return create_app(make_settings(max_body_bytes=LIMIT), registry)


def test_declared_length_over_the_limit_is_413_before_reading_any_body(small_app: Any) -> None:
    chunks = [b"x" * 100] * 20
    (start, *_), consumed = run_asgi(
        small_app, [(b"content-type", b"application/json"), (b"content-length", b"2000")], chunks
    )

    assert start["status"] == 413
    assert (b"content-type", PROBLEM.encode()) in start["headers"]
    assert consumed == 0


def test_chunked_body_is_cut_off_as_soon_as_it_passes_the_limit(
    small_app: Any, detector: FakeDetector
) -> None:
    chunks = [b"x" * 100] * 100  # 10 000 bytes, no Content-Length
    (start, *_), consumed = run_asgi(
        small_app,
        [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")],
        chunks,
    )

    assert start["status"] == 413
    assert consumed == 11  # 1100 bytes is the first total past 1000
    assert detector.calls == []


def test_chunked_multipart_body_is_cut_off_too(small_app: Any) -> None:
    boundary = b"b0undary"
    head = b"--" + boundary + b'\r\nContent-Disposition: form-data; name="image"; '
    head += b'filename="a.png"\r\nContent-Type: image/png\r\n\r\n'
    chunks = [head] + [b"\x00" * 100] * 50
    content_type = b"multipart/form-data; boundary=" + boundary
    (start, *_), consumed = run_asgi(small_app, [(b"content-type", content_type)], chunks)

    assert start["status"] == 413
    assert consumed < len(chunks)


def test_content_length_that_is_not_a_number_is_400(small_app: Any) -> None:
    (start, *_), _ = run_asgi(
        small_app, [(b"content-type", b"application/json"), (b"content-length", b"lots")], []
    )

    assert start["status"] == 400


def test_a_client_that_goes_away_mid_body_gets_no_answer_and_no_error(
    small_app: Any, detector: FakeDetector
) -> None:
    sent, _ = run_asgi(small_app, [(b"content-type", b"application/json")], [])

    assert sent == []
    assert detector.calls == []


def test_over_limit_through_http_client_is_413_problem(
    make_client: Callable[..., TestClient], detector: FakeDetector
) -> None:
    client = make_client(max_body_bytes=LIMIT)
    response = client.post("/detect", files={"image": ("big.png", b"\x89PNG" + b"0" * 2000)})

    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == 413
    assert str(LIMIT) in body["detail"]
    assert detector.calls == []


def test_chunked_over_limit_through_http_client_is_413(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(max_body_bytes=LIMIT)

    def body() -> Iterator[bytes]:
        for _ in range(30):
            yield b"y" * 100

    response = client.post("/detect", content=body(), headers={"content-type": "application/json"})

    assert response.status_code == 413
    assert response.json()["status"] == 413


def test_body_at_the_limit_is_read(make_client: Callable[..., TestClient]) -> None:
    image = encode(8, 8)
    client = make_client(max_body_bytes=len(image) + 300)  # room for the multipart framing
    response = client.post("/detect", files={"image": ("a.png", image)})

    assert response.status_code == 200


class TestApiKey:
    KEY = "s3cret-key"

    @pytest.fixture
    def keyed(self, make_client: Callable[..., TestClient]) -> TestClient:
        return make_client(api_key=self.KEY)

    @pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}, {"X-API-Key": ""}])
    def test_missing_or_wrong_key_is_401(
        self, keyed: TestClient, detector: FakeDetector, headers: dict[str, str]
    ) -> None:
        response = keyed.post("/detect", files={"image": ("a.png", encode())}, headers=headers)

        assert response.status_code == 401
        assert response.headers["content-type"] == PROBLEM
        assert "X-API-Key" in response.headers["www-authenticate"]
        assert "X-API-Key" in response.json()["detail"]
        assert detector.calls == []

    def test_right_key_is_let_through(self, keyed: TestClient) -> None:
        response = keyed.post(
            "/detect", files={"image": ("a.png", encode())}, headers={"X-API-Key": self.KEY}
        )

        assert response.status_code == 200

    @pytest.mark.parametrize("path", ["/models", "/metrics"])
    def test_every_other_route_needs_the_key(self, keyed: TestClient, path: str) -> None:
        assert keyed.get(path).status_code == 401
        assert keyed.get(path, headers={"X-API-Key": self.KEY}).status_code == 200

    @pytest.mark.parametrize("path", ["/health/live", "/health/ready"])
    def test_health_probes_need_no_key(self, keyed: TestClient, path: str) -> None:
        assert keyed.get(path).status_code == 200

    def test_openapi_documents_the_key(self, keyed: TestClient) -> None:
        schema = keyed.get("/openapi.json", headers={"X-API-Key": self.KEY}).json()

        schemes = schema["components"]["securitySchemes"].values()
        assert {"type": "apiKey", "in": "header", "name": "X-API-Key"} in schemes


@pytest.mark.parametrize(
    ("path", "root_path", "compat"),
    [
        ("/v1/vision/detection", "", True),
        ("/vision/v1/vision/face", "/vision", True),  # mounted: the mount's prefix comes off
        ("/v1", "", False),
        ("/v1x/vision", "", False),
        ("/detect", "", False),
    ],
)
def test_compat_paths_are_told_apart_wherever_the_app_is_mounted(
    path: str, root_path: str, compat: bool
) -> None:
    assert is_compat_path({"path": path, "root_path": root_path}) is compat
