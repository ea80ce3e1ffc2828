"""No dependency of ours costs a thread hop: FastAPI runs sync ones in the thread pool."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import fastapi.dependencies.utils
import fastapi.routing
import pytest
from fastapi import Depends, FastAPI, Query
from fastapi.testclient import TestClient
from starlette.concurrency import run_in_threadpool

from service.api.loop_dependencies import on_the_loop
from tests.unit.service.api.fakes import encode


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The dependencies and endpoints FastAPI sends to the thread pool from now on."""
    sent: list[str] = []

    def recording(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Awaitable[Any]:
        sent.append(getattr(call, "__qualname__", repr(call)))
        return run_in_threadpool(call, *args, **kwargs)

    monkeypatch.setattr(fastapi.dependencies.utils, "run_in_threadpool", recording)
    monkeypatch.setattr(fastapi.routing, "run_in_threadpool", recording)
    return sent


@pytest.mark.parametrize(
    ("path", "query"),
    [("/detect", {"model": "fake-detector", "conf": "0.5"}), ("/detect/image", {}),
     ("/classify", {}), ("/v1/vision/detection", {})],
)  # fmt: skip
def test_an_inference_request_runs_no_dependency_in_the_thread_pool(
    client: TestClient, hops: list[str], path: str, query: dict[str, str]
) -> None:
    response = client.post(path, params=query, files={"image": ("a.png", encode(64, 48))})
    assert response.status_code == 200, response.text
    assert hops == []


def test_the_hop_recorder_sees_a_sync_dependency(hops: list[str]) -> None:
    with TestClient(_app()) as client:
        client.get("/pooled")
    assert hops == ["Params"]


@dataclass(frozen=True)
class Params:
    size: Annotated[int, Query(ge=1, le=10, description="How many.")] = 3
    name: Annotated[str | None, Query(alias="label")] = None
    thread: int = field(default=0, init=False)  # where it was built

    def __post_init__(self) -> None:
        object.__setattr__(self, "thread", threading.get_ident())


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/pooled")
    async def pooled(params: Annotated[Params, Depends()]) -> dict[str, Any]:
        return {"size": params.size, "name": params.name, "on_loop": _here(params)}

    @app.get("/looped")
    async def looped(params: Annotated[Params, Depends(on_the_loop(Params))]) -> dict[str, Any]:
        return {"size": params.size, "name": params.name, "on_loop": _here(params)}

    return app


def _here(params: Params) -> bool:
    return params.thread == threading.get_ident()


def test_on_the_loop_builds_the_dataclass_on_the_event_loop() -> None:
    with TestClient(_app()) as client:
        assert client.get("/pooled").json()["on_loop"] is False  # FastAPI's default: a hop
        assert client.get("/looped").json()["on_loop"] is True


def test_on_the_loop_takes_the_same_parameters_as_the_class() -> None:
    with TestClient(_app()) as client:
        for path in ("/pooled", "/looped"):
            assert client.get(path, params={"size": 7, "label": "x"}).json() == {
                "size": 7,
                "name": "x",
                "on_loop": path == "/looped",
            }
            assert client.get(path).json()["size"] == 3
            refused = client.get(path, params={"size": 11})
            assert refused.status_code == 422
            assert refused.json()["detail"][0]["loc"] == ["query", "size"]
        operations = client.get("/openapi.json").json()["paths"]
        pooled = operations["/pooled"]["get"]["parameters"]
        looped = operations["/looped"]["get"]["parameters"]
        assert looped == pooled
        assert {p["name"] for p in looped} == {"size", "label"}
