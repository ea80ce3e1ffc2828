"""/docs and /openapi.json describe the routes, their bodies and their problem answers."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_docs_page_is_served(client: TestClient) -> None:
    response = client.get("/docs")

    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    assert "/openapi.json" in response.text


def test_openapi_lists_the_routes_with_their_inputs_and_errors(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]

    assert {"/detect", "/classify", "/models", "/metrics", "/health/live", "/health/ready"} <= set(
        paths
    )
    detect = paths["/detect"]["post"]
    assert {p["name"] for p in detect["parameters"]} == {
        "model",
        "confidence",
        "iou",
        "max_detections",
        "classes",
        "mask_format",
        "conf",  # Ultralytics' names, documented as such
        "max_det",
    }  # format=image still works, but typed clients call /detect/image
    body = detect["requestBody"]["content"]
    assert body["multipart/form-data"]["schema"]["required"] == ["image"]
    assert body["application/json"]["schema"]["properties"]["image"]["type"] == "string"
    assert list(detect["responses"]["200"]["content"]) == ["application/json"]
    drawn = paths["/detect/image"]["post"]["responses"]["200"]["content"]
    assert drawn == {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}
    for status in ("400", "404", "413", "415", "422", "503"):
        problem = detect["responses"][status]["content"]["application/problem+json"]
        assert problem["schema"]["$ref"] == "#/components/schemas/Problem"
    assert {"type", "title", "status", "detail"} <= set(
        schema["components"]["schemas"]["Problem"]["properties"]
    )
    assert "DetectResponse" in schema["components"]["schemas"]
    assert "ClassifyResponse" in schema["components"]["schemas"]
