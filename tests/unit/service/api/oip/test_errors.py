"""Which paths get the protocol's ``{"error": ...}`` shape: ``/v2`` and below, nothing else."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from service.api.limits import is_oip_path


@pytest.mark.parametrize(
    ("path", "root_path", "oip"),
    [
        ("/v2", "", True),
        ("/v2/models/x/infer", "", True),
        ("/api/v2/health/live", "/api", True),
        ("/v20/models", "", False),
        ("/v1/vision/detection", "", False),
        ("/detect", "", False),
    ],
)
def test_oip_paths_wherever_the_app_is_mounted(path: str, root_path: str, oip: bool) -> None:
    assert is_oip_path({"path": path, "root_path": root_path}) is oip


def test_our_own_routes_keep_problem_json_beside_v2(client: TestClient) -> None:
    ours = client.get("/models/nope")
    theirs = client.get("/v2/models/nope")

    assert ours.status_code == theirs.status_code == 404
    assert ours.headers["content-type"] == "application/problem+json"
    assert theirs.headers["content-type"] == "application/json"
    assert set(theirs.json()) == {"error"}
    assert theirs.json()["error"].startswith("no model named 'nope'; models: ")
