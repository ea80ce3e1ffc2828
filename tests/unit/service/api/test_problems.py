"""Every error is RFC 9457 problem+json from one mapping; the unexpected is a bland 500."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from service.api.errors import FieldProblem, InvalidParameterError, OverloadedError
from service.api.problems import PROBLEM_MEDIA_TYPE, problem_for_exception
from service.errors import ServiceError
from service.pipelines.images import ImageDecodeError, ImageTooLargeError
from service.pipelines.registry import (
    ModelFailedError,
    ModelNotInstalledError,
    ModelNotReadyError,
    UnknownModelError,
)
from service.runtime.errors import InferenceError
from tests.unit.service.api.fakes import FakeDetector, encode


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (UnknownModelError("no detect model named 'x'"), 404),
        (ImageDecodeError("image: not a decodable image"), 422),
        (ImageTooLargeError("image: 9x9 over the limit"), 422),
        (ModelNotReadyError("model 'a' is not ready: loading"), 503),
        (ModelNotInstalledError("model 'a' is not installed: python -m service pull a"), 404),
        (ModelFailedError("model 'a' is not ready: error: bad file"), 503),
        (OverloadedError("busy"), 503),
    ],
)
def test_our_errors_map_by_type_and_keep_their_message(exc: Exception, status: int) -> None:
    response = problem_for_exception(exc, instance="/detect")

    assert response.status_code == status
    assert response.media_type == PROBLEM_MEDIA_TYPE
    assert str(exc) in bytes(response.body).decode()


def test_passing_conditions_say_when_to_retry() -> None:
    for exc in (ModelNotReadyError("loading"), OverloadedError("busy")):
        assert int(problem_for_exception(exc).headers["retry-after"]) > 0
    assert "retry-after" not in problem_for_exception(ImageDecodeError("bad")).headers
    # Not installed or failed: waiting changes nothing, so no client is told to retry.
    for lasting in (ModelNotInstalledError("pull it"), ModelFailedError("broken")):
        assert "retry-after" not in problem_for_exception(lasting).headers


def test_field_errors_are_listed() -> None:
    exc = InvalidParameterError(
        "classes: unknown class 'zebra'",
        errors=[FieldProblem("query", "classes", "unknown class 'zebra'")],
    )
    body = bytes(problem_for_exception(exc, instance="/detect").body).decode()

    assert '"errors":[{"in":"query","name":"classes","detail":"unknown class \'zebra\'"}]' in body
    assert '"instance":"/detect"' in body


@pytest.mark.parametrize(
    "exc",
    [
        RuntimeError("/secret/path/model.onnx exploded"),
        InferenceError("/secret/path/model.onnx: onnxruntime failed"),  # ours, but not mapped
        ServiceError("/secret/path base class"),
    ],
)
def test_unexpected_errors_are_500_without_internals(
    client: TestClient,
    detector: FakeDetector,
    caplog: pytest.LogCaptureFixture,
    exc: Exception,
) -> None:
    detector.error = exc
    with caplog.at_level(logging.ERROR, logger="service.api.problems"):
        response = client.post("/detect", files={"image": ("a.png", encode())})

    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["status"] == 500
    assert body["title"] and body["detail"]
    assert "secret" not in response.text
    assert "Traceback" not in response.text
    assert any("secret" in str(record.exc_info) for record in caplog.records)


def test_routing_errors_are_problems_too(client: TestClient) -> None:
    missing = client.get("/no-such-route")
    wrong_method = client.get("/detect")

    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert "/no-such-route" in missing.json()["detail"]
    assert wrong_method.status_code == 405
    assert wrong_method.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert wrong_method.headers["allow"] == "POST"
