"""The API key on the DeepStack routes: the X-API-Key header or an ``api_key`` form field
(Frigate, deepstack-python and deepstack-sdk send the field). The limits middleware lets
``/v1/`` requests without the header through to the route, which then must check the field;
everywhere else the header stays the only way in."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.unit.service.api import deepstack_wire as wire
from tests.unit.service.api.fakes import FakeDetector, encode

KEY = "s3cret-key"
MULTIPART = {"Content-Type": wire.MULTIPART}


@pytest.fixture
def keyed(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(api_key=KEY)


def detection(client: TestClient, content: bytes, **headers: str):
    return client.post("/v1/vision/detection", content=content, headers={**MULTIPART, **headers})


def test_key_in_the_api_key_field(keyed: TestClient, detector: FakeDetector) -> None:
    response = detection(keyed, wire.frigate(encode(), api_key=KEY))

    assert response.status_code == 200
    assert response.json()["success"] is True
    assert len(detector.calls) == 1


def test_key_in_the_header(keyed: TestClient) -> None:
    response = detection(keyed, wire.frigate(encode(), api_key=""), **{"X-API-Key": KEY})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (wire.frigate(encode(), api_key=""), {}),  # Frigate's default: an empty field
        (wire.frigate(encode(), api_key="wrong"), {}),
        (wire.body(wire.requests_file("image", encode())), {}),  # no field at all
        (wire.frigate(encode(), api_key=KEY), {"X-API-Key": "wrong"}),  # a wrong header wins
    ],
)
def test_missing_or_wrong_key_is_401_in_deepstack_shape(
    keyed: TestClient, detector: FakeDetector, content: bytes, headers: dict[str, str]
) -> None:
    response = detection(keyed, content, **headers)

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["success"] is False
    assert "key" in body["error"]
    assert detector.calls == []


def test_urlencoded_list_with_the_key(keyed: TestClient) -> None:
    headers = {"Content-Type": wire.URLENCODED}
    good = keyed.post("/v1/vision/face/list", content=f"api_key={KEY}".encode(), headers=headers)
    bad = keyed.post("/v1/vision/face/list", content=b"api_key=", headers=headers)

    assert (good.status_code, good.json()["faces"]) == (200, [])
    assert (bad.status_code, bad.json()["success"]) == (401, False)


def test_empty_api_key_field_is_fine_when_no_key_is_configured(client: TestClient) -> None:
    assert detection(client, wire.frigate(encode(), api_key="")).status_code == 200
    assert detection(client, wire.frigate(encode(), api_key="anything")).status_code == 200


def test_every_v1_route_checks_the_key(keyed: TestClient) -> None:
    """The middleware defers the key check on /v1/: no route there may skip it."""
    documented = keyed.get("/openapi.json", headers={"X-API-Key": KEY}).json()["paths"]
    paths = [p.replace("{model}", "fake-detector") for p in documented if p.startswith("/v1/")]
    assert len(paths) >= 9
    for path in paths:
        response = keyed.post(path, content=wire.frigate(encode(), api_key=""), headers=MULTIPART)
        assert (path, response.status_code) == (path, 401)


def test_form_field_key_does_not_open_our_own_routes(keyed: TestClient) -> None:
    """/detect still wants the header: an api_key field there is just an unknown field."""
    response = keyed.post("/detect", data={"api_key": KEY}, files={"image": ("a.png", encode())})

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
