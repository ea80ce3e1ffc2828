"""Custom-model aliases, the model list with models that are not pulled, the predictions cap
and nameless multipart parts on the DeepStack routes (issue 17's client breakages)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from fastapi.testclient import TestClient

from service.api import create_app
from service.settings import Settings
from tests.unit.service.api import deepstack_wire as wire
from tests.unit.service.api.fakes import FakeDetector, FakeRegistry, encode

MULTIPART = {"Content-Type": wire.MULTIPART}


def post(client: TestClient, path: str, content: bytes) -> httpx.Response:
    response: httpx.Response = client.post(path, content=content, headers=MULTIPART)
    return response


def labels_of(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [p["label"] for p in response.json()["predictions"]]


class UnpulledRegistry(FakeRegistry):
    """A registry that also lists a catalog model not pulled: no task, no pipeline."""

    def describe(self) -> list[dict[str, object]]:
        return [*super().describe(), {"name": "yolov8n", "status": "not pulled"}]


def test_custom_list_with_a_model_not_pulled(
    make_settings: Callable[..., Settings], detector: FakeDetector
) -> None:
    """Regression: a listed model without a task (not pulled) answered 500 KeyError 'task'."""
    app = create_app(make_settings(), registry=UnpulledRegistry(detector))
    with TestClient(app) as client:
        response = client.post("/v1/vision/custom/list")
    assert response.status_code == 200, response.text
    assert response.json()["models"][0] == "fake-detector"
    assert "yolov8n" not in response.json()["models"]


def test_codeproject_names_are_the_default_detector_filtered(
    client: TestClient, detector: FakeDetector
) -> None:
    image = wire.deepstack_python(encode())
    # the fake finds a person (class 0, 0.9) and a bus (class 3, 0.6)
    assert labels_of(post(client, "/v1/vision/custom/ipcam-general", image)) == ["person", "bus"]
    assert labels_of(post(client, "/v1/vision/custom/ipcam-animal", image)) == []
    assert detector.calls[0]["classes"] == [0, 1, 2, 3]  # what of its labels ipcam-general means
    answer = post(client, "/v1/vision/custom/ipcam-general", image).json()
    assert answer["moduleId"] == "fake-detector"


def test_configured_alias_is_listed_and_routed(make_client: Callable[..., TestClient]) -> None:
    client = make_client(custom_model_aliases={"buses": "fake-detector:bus", "all": ""})
    models = client.post("/v1/vision/custom/list").json()["models"]
    assert {"buses", "all", "ipcam-general"} <= set(models)
    image = wire.deepstack_python(encode())
    assert labels_of(post(client, "/v1/vision/custom/buses", image)) == ["bus"]
    assert labels_of(post(client, "/v1/vision/custom/all", image)) == ["person", "bus"]


def test_alias_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VISION_CUSTOM_MODEL_ALIASES", "ipcam-general=yolox_nano, plates=lpr:plate")
    assert Settings().custom_model_aliases == {"ipcam-general": "yolox_nano", "plates": "lpr:plate"}
    monkeypatch.setenv("VISION_CUSTOM_MODEL_ALIASES", "no-equals-sign")
    with pytest.raises(ValueError, match="name=model"):
        Settings()


def test_predictions_cap_keeps_the_best(make_client: Callable[..., TestClient]) -> None:
    client = make_client(deepstack_max_predictions=1)
    body = post(client, "/v1/vision/detection", wire.frigate(encode())).json()
    assert [p["label"] for p in body["predictions"]] == ["person"]
    assert body["count"] == 1


def test_nameless_part_is_skipped(client: TestClient) -> None:
    """Old SynoAI (.NET ``MultipartFormDataContent.Add(new StringContent(json))``): a part
    with no name beside the named image; DeepStack skipped it."""
    nameless = (
        f"--{wire.BOUNDARY}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        'Content-Disposition: form-data\r\n\r\n{"min_confidence":0.5}\r\n'
    ).encode()
    image = wire.Part("image", encode(64, 48, "JPEG"), filename="image", content_type="image/jpeg")
    body = nameless + image.encode() + f"--{wire.BOUNDARY}--\r\n".encode()
    assert labels_of(post(client, "/v1/vision/detection", body)) == ["person", "bus"]
    no_disposition = f"--{wire.BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nx\r\n".encode()
    body = no_disposition + image.encode() + f"--{wire.BOUNDARY}--\r\n".encode()
    assert labels_of(post(client, "/v1/vision/detection", body)) == ["person", "bus"]
