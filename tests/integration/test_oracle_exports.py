"""Fidelity to Ultralytics 8.4.190 on its own segment and OBB exports (shared/oracle/exports).

Every segment and OBB case goes through ``detection.postprocess`` twice: once on the raw outputs
the oracle recorded (rebuilt from its compact form, see the README beside it), once on a real
onnxruntime run of the export on the exact network input Ultralytics built. The letterbox record
comes from ``detection.letterbox`` and the image size alone; the layout from
``detect_layout`` and the export's metadata. Both must give Ultralytics' ``predict()``: the same
detections in the same order, boxes within 0.5 px, confidence within 1e-4; segment masks (in
network-input pixels) equal pixel for pixel; OBB boxes within 0.5 px and 1e-4 rad, corners
within 0.5 px. The export folders then load through the service's registry with no model.toml.
"""

from __future__ import annotations

import ast
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from detection import Detections, LayoutParams, letterbox, postprocess, xywhr_to_corners
from detection.layouts import detect_layout
from service.pipelines.detector import Detector
from service.pipelines.registry import ModelRegistry
from service.settings import Settings

BOX_TOLERANCE_PX = 0.5
CONF_TOLERANCE = 1e-4
ANGLE_TOLERANCE_RAD = 1e-4
TASKS = ("segment", "obb")


def export_cases() -> list[dict[str, Any]]:
    from tests.conftest import shared_path

    index = shared_path() / "oracle" / "exports" / "cases.json"
    if not index.is_file():
        return []
    return [case for case in json.loads(index.read_text())["cases"] if case["task"] in TASKS]


@pytest.fixture(scope="module")
def exports_dir(oracle_dir: Path) -> Path:
    path = oracle_dir / "exports"
    if not (path / "cases.json").is_file():
        pytest.skip(f"{path} is absent: the segment/OBB oracle is not in this shared folder")
    return path


@cache
def session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def recorded_outputs(expected: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The raw outputs from their compact form: the columns of anchors scoring above 0.25
    (all others zero) and, for segment, the prototypes near kept boxes (lossless for conf
    >= 0.25, as the oracle's README explains)."""
    output0 = np.zeros(expected["raw_output0_shape"], dtype=np.float32)
    output0[0][:, expected["raw_output0_anchor_idx"]] = expected["raw_output0_cols"].T
    if "raw_output1_masked" not in expected:
        return [output0]
    return [output0, expected["raw_output1_masked"]]


def onnxruntime_outputs(
    model: ort.InferenceSession, exports_dir: Path, case: dict[str, Any], expected: dict
) -> list[np.ndarray]:
    """A real run on the recorded network input, checked against what the oracle recorded."""
    pixels = np.load(exports_dir / case["input_npz"])["input_uint8_rgb_chw"]
    tensor = pixels[None].astype(np.float32) / np.float32(255)
    outputs = [np.asarray(out) for out in model.run(None, {model.get_inputs()[0].name: tensor})]
    anchors = expected["raw_output0_anchor_idx"]
    np.testing.assert_array_equal(outputs[0][0][:, anchors].T, expected["raw_output0_cols"])
    for index, output in enumerate(outputs):
        total, absolute, low, high = expected[f"raw_output{index}_stats"]
        assert (output.min(), output.max()) == (low, high)
        assert output.astype(np.float64).sum() == pytest.approx(total, rel=1e-6, abs=1e-3)
        assert np.abs(output.astype(np.float64)).sum() == pytest.approx(absolute, rel=1e-6)
    return outputs


def run_case(case: dict[str, Any], exports_dir: Path, source: str) -> tuple[Detections, dict]:
    expected = dict(np.load(exports_dir / case["case_npz"]))
    model = session(exports_dir / "models" / f"{case['model']}.onnx")
    transform = letterbox(tuple(case["orig_hw"]), (640, 640))
    assert transform.input_hw == tuple(case["input_hw"])
    if source == "recorded":
        outputs = recorded_outputs(expected)
    else:
        outputs = onnxruntime_outputs(model, exports_dir, case, expected)
    metadata = model.get_modelmeta().custom_metadata_map
    names = ast.literal_eval(metadata["names"])
    layout = detect_layout([output.shape for output in outputs], metadata, input_hw=(640, 640))
    assert layout == {"segment": "yolov8-seg", "obb": "yolov8-obb"}[case["task"]]
    (found,) = postprocess(
        outputs,
        transform,
        layout=layout,
        params=LayoutParams(input_hw=transform.input_hw, num_classes=len(names)),
        confidence=0.25,
        iou=0.7,
        max_detections=300,
    )
    return found, expected


def mask_mismatches(found: Detections, expected: dict[str, np.ndarray]) -> int:
    """Pixels where our (N, 640, 640) masks differ from Ultralytics' ``masks.data``."""
    count = int(expected["masks_shape"][0])
    width = int(expected["masks_shape"][2])
    theirs = np.unpackbits(expected["masks_packed"], axis=-1, count=width).astype(bool)
    assert found.masks is not None and found.masks.shape == (count, *expected["masks_shape"][1:])
    return int((found.masks != theirs).sum())


@pytest.mark.parametrize("source", ["recorded", "onnxruntime"])
@pytest.mark.parametrize("case", export_cases(), ids=lambda case: case["id"])
def test_segment_and_obb_equal_ultralytics(
    case: dict[str, Any], source: str, exports_dir: Path
) -> None:
    found, expected = run_case(case, exports_dir, source)
    assert len(found) == case["n"] == len(expected["conf"])
    np.testing.assert_array_equal(found.class_id, expected["cls"].astype(np.int64))
    np.testing.assert_allclose(found.confidence, expected["conf"], atol=CONF_TOLERANCE, rtol=0)
    np.testing.assert_allclose(found.xyxy, expected["xyxy"], atol=BOX_TOLERANCE_PX, rtol=0)
    if case["task"] == "segment":
        assert found.rotated is None
        assert mask_mismatches(found, expected) == 0
        return
    assert found.masks is None and found.rotated is not None
    np.testing.assert_allclose(
        found.rotated[:, :4], expected["xywhr"][:, :4], atol=BOX_TOLERANCE_PX, rtol=0
    )
    np.testing.assert_allclose(
        found.rotated[:, 4], expected["xywhr"][:, 4], atol=ANGLE_TOLERANCE_RAD, rtol=0
    )
    corners = xywhr_to_corners(found.rotated)
    np.testing.assert_allclose(corners, expected["xyxyxyxy"], atol=BOX_TOLERANCE_PX, rtol=0)


def test_the_oracle_covers_both_tasks_and_empty_answers() -> None:
    cases = export_cases()
    if not cases:
        pytest.skip("shared/oracle/exports is absent")
    assert len(cases) == 12
    assert {case["task"] for case in cases} == set(TASKS)
    assert any(case["n"] == 0 for case in cases) and max(case["n"] for case in cases) >= 40


def test_the_exports_load_without_model_toml(exports_dir: Path, tmp_path: Path) -> None:
    for model in ("yolov8n_seg", "yolov8n_obb"):
        folder = tmp_path / model
        folder.mkdir()
        os.symlink(exports_dir / "models" / f"{model}.onnx", folder / "model.onnx")
    registry = ModelRegistry(Settings(models_dir=tmp_path, providers=["CPUExecutionProvider"]))
    registry.load_all()
    assert registry.status() == {"yolov8n_obb": "ready", "yolov8n_seg": "ready"}
    seg, obb = registry.get(Detector, "yolov8n_seg"), registry.get(Detector, "yolov8n_obb")
    assert (seg.layout, obb.layout) == ("yolov8-seg", "yolov8-obb")
    assert seg.info.task == obb.info.task == "detect"
    assert len(seg.labels) == len(obb.labels) == 80
