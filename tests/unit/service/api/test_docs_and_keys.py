"""/docs and /redoc work offline, the OpenAPI description tells clients about the key, and
/metrics takes the key the way Prometheus sends it."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

KEY = "s3cret-key"
# What Prometheus 3 sends with `authorization: {credentials: KEY}` (or bearer_token) set.
PROMETHEUS_HEADERS = {
    "Accept": "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
    "application/openmetrics-text;version=0.0.1;q=0.5,"
    "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,"
    "*/*;q=0.2",
    "Accept-Encoding": "gzip",
    "Authorization": f"Bearer {KEY}",
    "User-Agent": "Prometheus/3.1.0",
    "X-Prometheus-Scrape-Timeout-Seconds": "10",
}


@pytest.fixture
def keyed(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(api_key=KEY)


@pytest.mark.parametrize(
    ("page", "script"), [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")]
)
def test_the_doc_pages_load_everything_from_this_server(
    keyed: TestClient, page: str, script: str
) -> None:
    html = keyed.get(page)  # no key: the pages and the description hold no data

    assert html.status_code == 200, html.text
    assert "default-src 'self'" in html.headers["content-security-policy"]  # nothing fetched
    referenced = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", html.text)
    assert referenced, html.text
    assert [url for url in referenced if "://" in url or url.startswith("//")] == []
    assert f"/docs-assets/{script}" in referenced
    for url in referenced:
        assert keyed.get(url).status_code == 200, url
    assert len(keyed.get(f"/docs-assets/{script}").content) > 100_000  # the real bundle


def test_the_key_is_described_and_every_keyed_route_lists_401(keyed: TestClient) -> None:
    schema = keyed.get("/openapi.json").json()

    schemes = schema["components"]["securitySchemes"].values()
    assert {"type": "apiKey", "in": "header", "name": "X-API-Key"} in schemes
    assert {"type": "http", "scheme": "bearer"} in schemes
    keyed_operations = [
        (path, method, operation)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if operation.get("security")
    ]
    assert {"/detect", "/metrics", "/faces", "/models/reload"} <= {
        p for p, _, _ in keyed_operations
    }
    for path, method, operation in keyed_operations:
        assert "401" in operation["responses"], (method, path)
    assert "security" not in schema["paths"]["/health/ready"]["get"]


def test_delete_faces_lists_no_422_it_never_sends(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]

    for path in ("/faces/{subject}", "/faces/{subject}/{face_id}"):
        assert "422" not in paths[path]["delete"]["responses"]
        assert "404" in paths[path]["delete"]["responses"]
    assert "422" in paths["/detect"]["post"]["responses"]


def test_prometheus_scrapes_a_keyed_service_with_a_bearer_token(keyed: TestClient) -> None:
    keyed.get("/models", headers={"X-API-Key": KEY})
    scraped = keyed.get("/metrics", headers=PROMETHEUS_HEADERS)

    assert scraped.status_code == 200, scraped.text
    assert scraped.headers["content-type"].startswith("text/plain")
    text = scraped.text
    assert 'vision_requests_total{method="GET",model="",route="/models",status="200"} 1.0' in text
    assert "_created" not in text


@pytest.mark.parametrize(
    "authorization", [f"Bearer wrong-{KEY}", f"Basic {KEY}", "Bearer", f"Token {KEY}"]
)
def test_a_wrong_or_foreign_authorization_is_401(keyed: TestClient, authorization: str) -> None:
    answer = keyed.get("/metrics", headers={"Authorization": authorization})

    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"


def test_generated_clients_get_typed_pictures_forms_and_plain_names(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths, names = schema["paths"], schema["components"]["schemas"]

    binary = {"type": "string", "format": "binary"}
    for media_type in ("image/jpeg", "image/png"):
        assert (
            paths["/stylize"]["post"]["responses"]["200"]["content"][media_type]["schema"] == binary
        )
    form = paths["/v1/vision/detection"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert form["schema"] == {"$ref": "#/components/schemas/DeepStackForm"}
    assert names["DeepStackForm"]["properties"]["image"] == binary
    assert [name for name in names if "__" in name] == []
    titles = [body.get("title", name) for name, body in names.items()]
    assert len(titles) == len(set(titles))  # a generator names its classes by title
