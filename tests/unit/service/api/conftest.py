"""An app over fake pipelines, and clients for it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.api import create_app
from service.settings import Settings
from tests.unit.service.api.fakes import FakeClassifier, FakeDetector, FakeRegistry


@pytest.fixture
def detector() -> FakeDetector:
    return FakeDetector()


@pytest.fixture
def classifier() -> FakeClassifier:
    return FakeClassifier()


@pytest.fixture
def registry(detector: FakeDetector, classifier: FakeClassifier) -> FakeRegistry:
    return FakeRegistry(detector, classifier)


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        defaults = {"models_dir": tmp_path, "gallery_path": tmp_path / "gallery.sqlite3"}
        return Settings(**{**defaults, "api_key": None, **overrides})

    return make


@pytest.fixture
def start_app() -> Iterator[Callable[..., TestClient]]:
    """``start_app(app, **client_options)``: a client with ``app``'s lifespan run, ended at
    teardown."""
    clients: list[TestClient] = []

    def start(app: FastAPI, **options: Any) -> TestClient:
        client = TestClient(app, **options)
        client.__enter__()
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def make_client(
    make_settings: Callable[..., Settings],
    registry: FakeRegistry,
    start_app: Callable[..., TestClient],
) -> Callable[..., TestClient]:
    """``make_client(**settings)``: a started client (lifespan run) over ``registry``."""

    def make(**overrides: Any) -> TestClient:
        client = start_app(create_app(make_settings(**overrides), registry))
        _wait_for_the_gallery(client)
        return client

    return make


def _wait_for_the_gallery(client: TestClient) -> None:
    """The lifespan loads the gallery in the background; a test that probes readiness at once
    would race it (503 "still loading"), so a started client is one whose gallery is loaded."""
    deadline = time.monotonic() + 10.0
    while not client.app.state.context.gallery.ready:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, "the gallery did not load within 10 s"
        time.sleep(0.005)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()
