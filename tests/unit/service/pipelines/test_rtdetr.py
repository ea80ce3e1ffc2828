"""An RT-DETR export's layout end to end: a tiny ONNX graph loaded through the registry.

The graph ends like Ultralytics' ``RTDETRDecoder`` export: ``[1, 3, 6]`` rows of cx, cy, w, h
(0..1 of the input), score, class, best first. Its scores are the image's mean (times 2, 1,
0.5), so they also show how the image was resized: a stretch of a uniform image keeps its
mean, a letterbox would mix in the grey padding.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import helper, numpy_helper

from service.pipelines.detector import Detector
from service.pipelines.registry import ModelRegistry
from service.settings import Settings
from tests.onnx_graphs import build, save, tensor

BOXES = [[0.5, 0.5, 0.5, 0.5], [0.25, 0.25, 0.5, 0.5], [0.9, 0.9, 0.4, 0.4]]
FACTORS = [2.0, 1.0, 0.5]
CLASSES = [2.0, 0.0, 1.0]
# What Ultralytics 8.4.190 writes for rtdetr-l (the keys the service reads).
RTDETR_METADATA = {
    "task": "detect",
    "head": "RTDETRDecoder",
    "stride": "32",
    "imgsz": "[32, 32]",
    "names": "{0: 'a', 1: 'b', 2: 'c'}",
    "end2end": "False",
}


def rtdetr_like(path: Path, metadata: dict[str, str] | None) -> None:
    """``[1, 3, 6]``: fixed boxes and classes, score = mean(image) x FACTORS."""
    rows = len(BOXES)

    def const(name: str, values: list[list[float]]) -> object:
        return numpy_helper.from_array(np.array([values], np.float32).reshape(1, rows, -1), name)

    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Reshape", ["mean", "one_one_one"], ["mean3"]),
        helper.make_node("Mul", ["mean3", "factors"], ["scores"]),
        helper.make_node("Concat", ["boxes", "scores", "classes"], ["output0"], axis=2),
    ]
    initializers = [
        const("boxes", BOXES),
        const("factors", [[f] for f in FACTORS]),
        const("classes", [[c] for c in CLASSES]),
        numpy_helper.from_array(np.array([1, 1, 1], np.int64), "one_one_one"),
    ]
    model = build(
        nodes,
        [tensor("images", (1, 3, 32, 32))],
        [tensor("output0", (1, rows, 6))],
        initializers=initializers,  # type: ignore[arg-type]
        metadata=metadata,
    )
    save(model, path)


def loaded(root: Path) -> ModelRegistry:
    registry = ModelRegistry(Settings(models_dir=root, providers=["CPUExecutionProvider"]))
    registry.load_all()
    return registry


def check_answer(detector: Detector) -> None:
    """A uniform 50 x 100 (h x w) image of grey 51 (0.2): scores 0.4, 0.2, 0.1 after a stretch."""
    result = detector.run(np.full((50, 100, 3), 51, np.uint8), confidence=0.05)
    np.testing.assert_allclose(result.confidence, [0.4, 0.2, 0.1], atol=1e-6)
    assert result.class_id.tolist() == [2, 0, 1]
    assert result.labels == ["c", "a", "b"]
    # normalised x 100 wide, y x 50 high; the third runs past the corner and, as Ultralytics'
    # RT-DETR predictor leaves it, is not clipped (cx 0.9, w 0.4 -> x 70..110; y 35..55)
    np.testing.assert_allclose(
        result.xyxy,
        [[25.0, 12.5, 75.0, 37.5], [0.0, 0.0, 50.0, 25.0], [70.0, 35.0, 110.0, 55.0]],
        atol=1e-4,
    )
    assert detector.run(np.full((50, 100, 3), 51, np.uint8), confidence=0.2).labels == ["c"]


def test_an_rtdetr_export_is_recognised_by_its_metadata_and_stretched(tmp_path: Path) -> None:
    rtdetr_like(tmp_path / "detr" / "model.onnx", RTDETR_METADATA)  # no model.toml, no labels
    registry = loaded(tmp_path)
    assert registry.status() == {"detr": "ready"}
    detector = registry.get(Detector, "detr")
    assert (detector.layout, detector.spec.input.resize) == ("rtdetr", "stretch")
    (described,) = registry.describe()
    assert described["layout"] == "rtdetr"
    check_answer(detector)


def test_without_metadata_the_model_is_refused_naming_why_and_the_fix(tmp_path: Path) -> None:
    folder = tmp_path / "anonymous"
    rtdetr_like(folder / "model.onnx", None)
    (folder / "model.toml").write_text('task = "detect"\n')
    (folder / "labels.txt").write_text("a\nb\nc\n")
    status = loaded(tmp_path).status()["anonymous"]
    assert status.startswith("error: ")
    for expected in (
        "[1, 3, 6]",
        "could be end2end or rtdetr",
        "end2end rows are x1 y1 x2 y2 in input pixels, rtdetr rows cx cy w h in 0..1",
        "set [output] layout in model.toml",
    ):
        assert expected in status


def test_model_toml_names_the_layout_and_the_stretch_follows(tmp_path: Path) -> None:
    folder = tmp_path / "named"
    rtdetr_like(folder / "model.onnx", None)
    (folder / "model.toml").write_text('task = "detect"\n[output]\nlayout = "rtdetr"\n')
    (folder / "labels.txt").write_text("a\nb\nc\n")
    detector = loaded(tmp_path).get(Detector, "named")
    assert detector.spec.input.resize == "stretch"
    check_answer(detector)
