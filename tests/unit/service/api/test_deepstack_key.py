"""The API key on the DeepStack routes: the X-API-Key header or an ``api_key`` form field
(Frigate, deepstack-python, deepstack-sdk and Node-RED send the field). Their router checks it
for every route it holds, so a route added there cannot be left open; everywhere else the
header stays the only way in. Refusing costs as little as the body allows: nothing of a body
that is not a form, nothing past a wrong ``api_key`` field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from service.api import compat, create_app
from service.settings import Settings
from tests.unit.service.api import deepstack_wire as wire
from tests.unit.service.api.asgi_calls import run_asgi
from tests.unit.service.api.fakes import FakeDetector, FakeRegistry, encode

KEY = "s3cret-key"
MULTIPART = {"Content-Type": wire.MULTIPART}
URLENCODED = {"Content-Type": wire.URLENCODED}
DETECTION = "/v1/vision/detection"
MULTIPART_BYTES = wire.MULTIPART.encode()
IMAGE_CHUNKS = [b"\xff" * 65536] * 100  # 100 x 64 KiB of image, within the body limit


@pytest.fixture
def keyed(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(api_key=KEY)


def detection(client: TestClient, content: bytes, **headers: str) -> httpx.Response:
    response: httpx.Response = client.post(
        DETECTION, content=content, headers={**MULTIPART, **headers}
    )
    return response


def assert_deepstack_401(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["success"] is False
    assert "key" in body["error"]


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
    assert_deepstack_401(detection(keyed, content, **headers))
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
    """The middleware leaves the key on /v1/ to the compat router: no route there may skip
    it."""
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


# -- one check on the router: a route with no key parameter is keyed all the same ------------


@pytest.fixture
def with_probe(
    monkeypatch: pytest.MonkeyPatch, make_client: Callable[..., TestClient]
) -> TestClient:
    """A keyed app whose compat router has one more route, ``/v1/probe``, that takes no
    parameter at all (the router's route list is restored afterwards)."""
    monkeypatch.setattr(compat.router, "routes", list(compat.router.routes))

    @compat.router.post("/probe")
    async def probe() -> dict[str, bool]:
        return {"success": True}

    return make_client(api_key=KEY)


def test_a_new_v1_route_without_a_key_parameter_still_needs_the_key(
    with_probe: TestClient,
) -> None:
    form_with_key = wire.body(wire.text("api_key", KEY), wire.requests_file("image", b"x"))

    assert_deepstack_401(with_probe.post("/v1/probe"))
    assert_deepstack_401(with_probe.post("/v1/probe", headers={"X-API-Key": "wrong"}))
    assert with_probe.post("/v1/probe", headers={"X-API-Key": KEY}).status_code == 200
    multipart = with_probe.post("/v1/probe", content=form_with_key, headers=MULTIPART)
    assert (multipart.status_code, multipart.json()) == (200, {"success": True})
    urlencoded = with_probe.post("/v1/probe", content=f"api_key={KEY}".encode(), headers=URLENCODED)
    assert urlencoded.status_code == 200


# -- what an unauthenticated request costs ---------------------------------------------------


@pytest.fixture
def keyed_app(make_settings: Callable[..., Settings], registry: FakeRegistry) -> Any:
    return create_app(make_settings(api_key=KEY), registry)


def image_upload(*before: wire.Part) -> list[bytes]:
    """A multipart body as chunks: ``before`` and the head of a large ``image`` file part
    first, then the image's bytes, then the closing boundary."""
    head = b"".join(part.encode() for part in before)
    head += wire.Part("image", b"", filename="image.jpg").encode().removesuffix(b"\r\n")
    return [head, *IMAGE_CHUNKS, f"\r\n--{wire.BOUNDARY}--\r\n".encode()]


@pytest.mark.parametrize(
    "content_type", [b"application/json", b"text/plain", b"application/octet-stream", None]
)
def test_a_body_that_is_not_a_form_is_refused_unread(
    keyed_app: Any, content_type: bytes | None
) -> None:
    headers = [(b"content-type", content_type)] if content_type else []
    (start, *_), consumed = run_asgi(keyed_app, headers, [b'{"api_key": "x"}'], DETECTION)

    assert start["status"] == 401
    assert (b"content-type", b"application/json") in start["headers"]  # DeepStack's shape
    assert consumed == 0


@pytest.mark.parametrize("api_key", ["", "wrong"])
def test_a_wrong_api_key_field_stops_the_upload_there(
    keyed_app: Any, detector: FakeDetector, api_key: str
) -> None:
    chunks = image_upload(wire.text("api_key", api_key))
    (start, *_), consumed = run_asgi(
        keyed_app, [(b"content-type", MULTIPART_BYTES)], chunks, DETECTION
    )

    assert start["status"] == 401
    assert consumed == 1  # the chunk with the field; none of the image's bytes
    assert detector.calls == []


def test_without_any_api_key_field_the_body_is_read_to_its_end(keyed_app: Any) -> None:
    """The field may follow the image (Node-RED sends it last; DeepStack read the whole form
    for it), so a form without it is refused only once it has ended."""
    chunks = image_upload()
    (start, *_), consumed = run_asgi(
        keyed_app, [(b"content-type", MULTIPART_BYTES)], chunks, DETECTION
    )

    assert start["status"] == 401
    assert consumed == len(chunks)


def test_key_after_the_image_as_node_red_sends_it(
    keyed: TestClient, detector: FakeDetector
) -> None:
    """The route reads the form the key check parsed (a body streams in only once)."""
    ok = detection(keyed, wire.node_red(encode(), api_key=KEY))
    wrong = detection(keyed, wire.node_red(encode(), api_key="wrong"))

    assert (ok.status_code, ok.json()["success"]) == (200, True)
    assert len(detector.calls) == 1
    assert_deepstack_401(wrong)
