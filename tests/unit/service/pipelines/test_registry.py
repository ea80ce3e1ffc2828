"""The registry over tiny ONNX graphs: statuses, lookups, and per-model failures."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from fastapi.testclient import TestClient
from onnx import helper

from service.api import create_app
from service.pipelines.classifier import Classifier
from service.pipelines.detector import Detector
from service.pipelines.protocol import LoadedModel, model_info
from service.pipelines.registry import ModelNotReadyError, ModelRegistry, UnknownModelError
from service.pipelines.tasks import TASKS, Task
from service.repository import ModelConfigError
from service.settings import Settings
from tests.onnx_graphs import build, save, tensor

CLASSIFY_TOML = """task = "classify"
[input]
size = [8, 8]
resize = "stretch"
[output]
kind = "logits"
"""


def mean_colour_classifier(path: Path) -> None:
    """Logits = the mean of each colour channel: a 3-class 'classifier' anyone can check."""
    node = helper.make_node("ReduceMean", ["x"], ["logits"], axes=[2, 3], keepdims=0)
    model = build([node], [tensor("x", (1, 3, 8, 8))], [tensor("logits", (1, 3))])
    model.opset_import[0].version = 17
    save(model, path)


def make_model(root: Path, name: str, labels: list[str], toml: str = CLASSIFY_TOML) -> Path:
    folder = root / name
    mean_colour_classifier(folder / "model.onnx")
    (folder / "model.toml").write_text(toml)
    (folder / "labels.txt").write_text("\n".join(labels) + "\n")
    return folder


def registry_for(root: Path) -> ModelRegistry:
    return ModelRegistry(Settings(models_dir=root, providers=["CPUExecutionProvider"]))


def test_models_are_loading_until_load_all_then_ready_and_served(tmp_path: Path) -> None:
    make_model(tmp_path, "colours", ["red", "green", "blue"])
    registry = registry_for(tmp_path)
    assert registry.status() == {"colours": "loading"}
    assert not registry.ready
    with pytest.raises(ModelNotReadyError, match="not ready: loading"):
        registry.get(Classifier)
    registry.load_all()
    assert registry.ready
    classifier = registry.get(Classifier)
    assert isinstance(classifier, Classifier)
    green = np.zeros((20, 30, 3), np.uint8)
    green[..., 1] = 200
    result = classifier.run(green, top_k=2)
    assert [p.label for p in result.predictions] == ["green", "red"]
    assert result.model.provider == "CPUExecutionProvider"
    (described,) = registry.describe()
    assert described["providers_used"] == ["CPUExecutionProvider"]
    assert described["labels_count"] == 3


def test_a_broken_model_fails_alone_with_its_reason(tmp_path: Path) -> None:
    make_model(tmp_path, "good", ["red", "green", "blue"])
    make_model(tmp_path, "miscounted", ["red", "green"])
    broken = make_model(tmp_path, "garbage", ["a", "b", "c"])
    (broken / "model.onnx").write_bytes(b"this is not an onnx file")
    registry = registry_for(tmp_path)
    registry.load_all()
    status = registry.status()
    assert status["good"] == "ready"
    assert status["miscounted"].startswith("error: ")
    assert "labels.txt: 2 labels" in status["miscounted"]
    assert status["garbage"].startswith("error: ") and "cannot load" in status["garbage"]
    assert not registry.ready
    with pytest.raises(ModelNotReadyError, match="garbage"):
        registry.get(Classifier, "garbage")


def test_unknown_names_and_tasks_are_refused_with_what_exists(tmp_path: Path) -> None:
    make_model(tmp_path, "colours", ["red", "green", "blue"])
    registry = registry_for(tmp_path)
    registry.load_all()
    with pytest.raises(
        UnknownModelError, match="no classify model named 'nope'; classify models: colours"
    ):
        registry.get(Classifier, "nope")
    with pytest.raises(UnknownModelError, match="no model serves task 'detect'"):
        registry.get(Detector)
    with pytest.raises(UnknownModelError, match="no detect model named 'colours'"):
        registry.get(Detector, "colours")


def test_a_model_not_pulled_is_listed_as_such(tmp_path: Path) -> None:
    folder = make_model(tmp_path, "later", ["a", "b", "c"])
    (folder / "model.onnx").unlink()
    registry = registry_for(tmp_path)
    registry.load_all()
    assert registry.status() == {"later": "not pulled"}


def test_an_invalid_model_toml_stops_the_start_naming_file_and_key(tmp_path: Path) -> None:
    make_model(tmp_path, "typo", ["a", "b", "c"], CLASSIFY_TOML + "colour = 'RGB'\n")
    with pytest.raises(ModelConfigError, match=r"typo/model.toml: .*colour"):
        registry_for(tmp_path)


DETECT_TOML = """task = "detect"
[input]
size = [32, 32]
"""


def constant_output_model(path: Path, shape: tuple[int, ...]) -> None:
    """A 'detector' whose output is zeros of ``shape`` whatever the image: only shapes matter."""
    value = helper.make_tensor("zeros", 1, shape, np.zeros(shape, np.float32).ravel().tolist())
    node = helper.make_node("Constant", [], ["out"], value=value)
    save(build([node], [tensor("x", (1, 3, 32, 32))], [tensor("out", shape)]), path)


def test_an_ambiguous_output_layout_is_refused_for_that_model(tmp_path: Path) -> None:
    folder = tmp_path / "square"
    constant_output_model(folder / "model.onnx", (1, 84, 84))
    (folder / "model.toml").write_text(DETECT_TOML)
    (folder / "labels.txt").write_text("\n".join(str(i) for i in range(80)) + "\n")
    registry = registry_for(tmp_path)
    registry.load_all()
    assert registry.status()["square"].startswith("error: ")
    assert "set [output] layout in model.toml" in registry.status()["square"]


def test_missing_labels_are_refused_naming_the_file(tmp_path: Path) -> None:
    folder = make_model(tmp_path, "nameless", ["a", "b", "c"])
    (folder / "labels.txt").unlink()
    registry = registry_for(tmp_path)
    registry.load_all()
    assert "labels.txt: missing" in registry.status()["nameless"]


def test_models_never_pulled_do_not_hold_readiness_back(tmp_path: Path) -> None:
    make_model(tmp_path, "served", ["a", "b", "c"])
    optional = make_model(tmp_path, "optional", ["a", "b", "c"])
    (optional / "model.onnx").unlink()
    registry = registry_for(tmp_path)
    registry.load_all()
    assert registry.status() == {"optional": "not pulled", "served": "ready"}
    assert registry.ready


def test_a_repository_with_nothing_pulled_is_not_ready(tmp_path: Path) -> None:
    folder = make_model(tmp_path, "later", ["a", "b", "c"])
    (folder / "model.onnx").unlink()
    registry = registry_for(tmp_path)
    registry.load_all()
    assert not registry.ready


class MeanLevel:
    """A test-only task: how bright an image is, as the mean of the colour model's outputs."""

    task: ClassVar[str] = "mean-level"

    def __init__(self, model: LoadedModel) -> None:
        self.session = model.session
        self.info = model_info(model.name, model.spec, model.session, thresholds={"dark": 0.25})
        self.warmed = False

    @classmethod
    def load(cls, model: LoadedModel) -> MeanLevel:
        return cls(model)

    def warm_up(self) -> None:
        self.warmed = True

    def run(self, pixels: np.ndarray) -> float:
        tensor = pixels.transpose(2, 0, 1)[None].astype(np.float32) / 255.0
        return float(np.mean(self.session.run(tensor)[0]))


def test_a_task_added_to_the_table_alone_is_loaded_served_and_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(TASKS, MeanLevel.task, Task(MeanLevel))
    level_toml = 'task = "mean-level"\n[input]\nsize = [8, 8]\nresize = "stretch"\n'
    make_model(tmp_path, "level", ["red", "green", "blue"], level_toml)
    registry = registry_for(tmp_path)
    registry.load_all()

    level = registry.get(MeanLevel)
    assert level.warmed
    assert level.run(np.full((8, 8, 3), 51, np.uint8)) == pytest.approx(0.2)
    with TestClient(create_app(registry.settings, registry)) as client:
        (listed,) = client.get("/models").json()["models"]
    assert listed == {
        "name": "level",
        "status": "ready",
        "task": "mean-level",
        "provider": "CPUExecutionProvider",
        "providers_requested": ["CPUExecutionProvider"],
        "providers_used": ["CPUExecutionProvider"],
        "input_size": [8, 8],
        "layout": None,
        "labels_count": 3,
        "thresholds": {"dark": 0.25},
        "interpolation": "linear",
    }


def test_a_task_missing_from_the_table_is_refused_naming_those_served(tmp_path: Path) -> None:
    make_model(tmp_path, "masks", ["a", "b", "c"], 'task = "segment"\n')
    make_model(tmp_path, "colours", ["red", "green", "blue"])
    registry = registry_for(tmp_path)
    status = registry.status()["masks"]  # refused before its ONNX file costs a load
    for expected in ("masks/model.toml", "task 'segment'", "'detect'", "'face-embed'"):
        assert expected in status
    assert "'style-transfer'" in status
    registry.load_all()
    assert registry.status()["colours"] == "ready"
