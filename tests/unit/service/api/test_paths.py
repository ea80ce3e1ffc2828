"""Route families behind a ``root_path`` (``uvicorn --root-path``, a proxy, a mount): each family
still answers errors in its own shape, decided from the path the router matches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from service.api import create_app
from service.api.compreface.errors import is_compreface_path
from service.api.paths import is_below, route_path
from service.settings import Settings
from tests.unit.service.api.face_fakes import FakeEmbedder, FakeFaceDetector
from tests.unit.service.api.fakes import FakeClassifier, FakeDetector, FakeRegistry


@pytest.fixture
def registry(detector: FakeDetector, classifier: FakeClassifier) -> FakeRegistry:
    return FakeRegistry(detector, classifier, FakeFaceDetector(), FakeEmbedder())


@pytest.fixture
def mounted(
    make_settings: Callable[..., Settings],
    registry: FakeRegistry,
    start_app: Callable[..., TestClient],
) -> Callable[..., TestClient]:
    """``mounted(root_path, **settings)``: a started client whose requests carry ``root_path``
    and a path that begins with it, as uvicorn sends them with ``--root-path``."""

    def start(root_path: str, **overrides: Any) -> TestClient:
        app = create_app(make_settings(**overrides), registry)
        return start_app(app, root_path=root_path, base_url=f"http://testserver{root_path}")

    return start


@pytest.mark.parametrize(
    ("path", "root_path", "expected"),
    [
        ("/vision/v1/vision/face", "/vision", "/v1/vision/face"),
        ("/vision", "/vision", ""),
        ("/visionary/v1/x", "/vision", "/visionary/v1/x"),  # only a whole prefix comes off
        ("/v1/vision/face", "/vision", "/v1/vision/face"),  # a proxy that took it off itself
        ("/v1/vision/face", "", "/v1/vision/face"),
    ],
)
def test_route_path_takes_off_the_root_path_only_whole(
    path: str, root_path: str, expected: str
) -> None:
    assert route_path({"path": path, "root_path": root_path}) == expected


def test_below_a_prefix_is_strictly_below_it() -> None:
    assert is_below({"path": "/v/v1/x", "root_path": "/v"}, "/v1")
    assert not is_below({"path": "/v/v1", "root_path": "/v"}, "/v1")
    assert not is_below({"path": "/v/v1x/y", "root_path": "/v"}, "/v1")


@pytest.mark.parametrize(
    ("path", "root_path", "compreface"),
    [
        ("/api/v1/recognition/faces", "", True),
        ("/vision/api/v1/recognition/faces", "/vision", True),
        ("/api/v1/vision/face", "/api", False),  # DeepStack's /v1 under root_path /api
        ("/api/api/v1/recognition/faces", "/api", True),
        ("/api/v10/x", "", False),
    ],
)
def test_compreface_paths_wherever_the_app_is_mounted(
    path: str, root_path: str, compreface: bool
) -> None:
    assert is_compreface_path({"path": path, "root_path": root_path}) is compreface


def compreface_error(answer: httpx.Response) -> None:
    assert answer.headers["content-type"] == "application/json"
    assert set(answer.json()) == {"message", "code"}


def deepstack_error(answer: httpx.Response) -> None:
    assert answer.headers["content-type"] == "application/json"
    assert set(answer.json()) == {"success", "error", "code"}
    assert answer.json()["success"] is False


def oip_error(answer: httpx.Response) -> None:
    assert answer.headers["content-type"] == "application/json"
    assert set(answer.json()) == {"error"}


def problem(answer: httpx.Response) -> None:
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["status"] == answer.status_code


# Each family's own 4xx, from one of its routes: (method, route path, request, status, shape).
FAMILY_ERRORS: list[tuple[str, str, dict[str, Any], int, Callable[[httpx.Response], None]]] = [
    ("get", "/api/v1/recognition/faces", {"params": {"page": "-1"}}, 400, compreface_error),
    ("post", "/v1/vision/detection", {"json": {"image": "aGk="}}, 415, deepstack_error),
    ("get", "/v2/models/nope", {}, 404, oip_error),
    ("get", "/models/nope", {}, 404, problem),
]


@pytest.mark.parametrize("root_path", ["/vision", "/api"])
def test_each_family_keeps_its_error_shape_under_a_root_path(
    mounted: Callable[..., TestClient], root_path: str
) -> None:
    client = mounted(root_path)
    for method, path, request, status, shape in FAMILY_ERRORS:
        answer = client.request(method, path.removeprefix("/"), **request)
        assert answer.request.url.path == f"{root_path}{path}"
        assert answer.status_code == status, (path, answer.text)
        shape(answer)


def test_the_key_check_answers_in_each_familys_shape_under_a_root_path(
    mounted: Callable[..., TestClient],
) -> None:
    client = mounted("/vision", api_key="s3cret")
    compreface = client.get("api/v1/recognition/faces")
    assert compreface.status_code == 401
    compreface_error(compreface)
    assert compreface.json()["message"].startswith("this service requires")
    ours = client.get("faces")
    assert ours.status_code == 401
    problem(ours)
    assert client.get("health/live").status_code == 200  # open under the prefix too
