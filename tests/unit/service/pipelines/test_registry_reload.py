"""Models pulled or added while the process runs: reload, watch, and the 404 that says how to
install a model that is not there (real registry, tiny ONNX graphs)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.api import create_app
from service.pipelines.classifier import Classifier
from service.pipelines.registry import ModelNotInstalledError, ModelRegistry
from service.settings import Settings
from tests.unit.service.pipelines.test_registry import (
    make_model,
    mean_colour_classifier,
    registry_for,
)

LABELS = ["red", "green", "blue"]


def _wait_ready(registry: ModelRegistry, name: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while registry.status().get(name) != "ready":
        assert time.monotonic() < deadline, registry.status()
        time.sleep(0.02)


def test_a_model_not_installed_is_a_404_naming_the_pull_command(tmp_path: Path) -> None:
    make_model(tmp_path, "served", LABELS)
    (make_model(tmp_path, "later", LABELS) / "model.onnx").unlink()
    registry = registry_for(tmp_path)
    registry.load_all()
    with pytest.raises(ModelNotInstalledError, match=r"`python -m service pull later`"):
        registry.get(Classifier, "later")
    with pytest.raises(ModelNotInstalledError, match="not installed"):
        registry.session("later")


def test_the_default_is_the_first_installed_model_of_the_task(tmp_path: Path) -> None:
    (make_model(tmp_path, "a_first", LABELS) / "model.onnx").unlink()  # first by name
    make_model(tmp_path, "b_second", LABELS)
    registry = registry_for(tmp_path)
    registry.load_all()
    assert registry.get(Classifier).info.name == "b_second"


def test_reload_loads_a_pulled_model_while_the_others_serve_and_stay_ready(
    tmp_path: Path,
) -> None:
    make_model(tmp_path, "served", LABELS)
    later = make_model(tmp_path, "later", LABELS)
    (later / "model.onnx").unlink()
    registry = registry_for(tmp_path)
    registry.load_all()
    served = registry.get(Classifier, "served")
    assert registry.ready

    mean_colour_classifier(later / "model.onnx")
    make_model(tmp_path, "added", LABELS)  # a folder that did not exist at start-up
    assert sorted(registry.reload()) == ["added", "later"]
    assert registry.ready  # newcomers loading never take the instance out of rotation
    _wait_ready(registry, "later")
    _wait_ready(registry, "added")
    assert registry.get(Classifier, "served") is served  # untouched, not reloaded
    assert registry.get(Classifier, "later").info.name == "later"
    assert registry.reload() == []  # nothing new: nothing loads twice


def test_a_failed_model_is_retried_only_once_its_file_changed(tmp_path: Path) -> None:
    broken = make_model(tmp_path, "broken", LABELS)
    (broken / "model.onnx").write_bytes(b"not onnx")
    registry = registry_for(tmp_path)
    registry.load_all()
    assert registry.status()["broken"].startswith("error: ")
    assert registry.reload() == []
    mean_colour_classifier(broken / "model.onnx")
    assert registry.reload() == ["broken"]
    _wait_ready(registry, "broken")


def test_watch_picks_up_a_pulled_file_by_itself(tmp_path: Path) -> None:
    make_model(tmp_path, "served", LABELS)
    later = make_model(tmp_path, "later", LABELS)
    (later / "model.onnx").unlink()
    registry = registry_for(tmp_path)
    registry.load_all()
    stop = threading.Event()
    watcher = threading.Thread(target=registry.watch, args=(stop, 0.05), daemon=True)
    watcher.start()
    try:
        mean_colour_classifier(later / "model.onnx")
        _wait_ready(registry, "later")
    finally:
        stop.set()
        watcher.join(timeout=5)
    assert not watcher.is_alive()


def test_post_models_reload_is_keyed_and_answers_what_started_loading(tmp_path: Path) -> None:
    make_model(tmp_path, "served", LABELS)
    settings = Settings(
        models_dir=tmp_path,
        providers=["CPUExecutionProvider"],
        api_key="k",
        models_watch_s=0,
        gallery_path=tmp_path / "gallery.sqlite3",
    )
    with TestClient(create_app(settings)) as client:
        deadline = time.monotonic() + 20
        while client.get("/health/ready").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert client.post("/models/reload").status_code == 401
        make_model(tmp_path, "added", LABELS)
        answer = client.post("/models/reload", headers={"X-API-Key": "k"})
        assert answer.status_code == 202, answer.text
        assert answer.json()["loading"] == ["added"]
        assert answer.json()["models"]["served"] == "ready"
        (tmp_path / "bad").mkdir()
        (tmp_path / "bad" / "model.toml").write_text("task = 7\n")
        refused = client.post("/models/reload", headers={"X-API-Key": "k"})
        assert refused.status_code == 422
        assert refused.json()["type"] == "urn:vision-service:problem:reload-failed"
        assert "bad/model.toml" in refused.json()["detail"]


def test_a_catalogued_model_without_a_folder_is_not_installed_either(tmp_path: Path) -> None:
    make_model(tmp_path, "served", LABELS)
    sha = "ab" * 32
    (tmp_path / "catalog.toml").write_text(
        f'[models.extra]\ntask = "classify"\nlicence = "MIT"\n'
        f'[[models.extra.files]]\nfile = "extra.onnx"\nsha256 = "{sha}"\nsize = 1\n'
    )
    registry = registry_for(tmp_path)
    registry.load_all()
    with pytest.raises(ModelNotInstalledError, match=r"`python -m service pull extra`"):
        registry.get(Classifier, "extra")
    with pytest.raises(ModelNotInstalledError):
        registry.session("extra")
