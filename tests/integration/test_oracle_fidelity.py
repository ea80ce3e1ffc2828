"""Fidelity to ultralytics: its own exports, input tensors and detections (shared/oracle).

Each case runs the exported model with onnxruntime on the exact tensor ultralytics fed it,
post-processes with `detection`, maps back with the letterbox record `detection` computes from
the image size alone, and must give ultralytics' detections: same count and classes, boxes
within 0.5 px, confidence within 1e-4 (keypoints within 0.5 px where the model has them).
"""

from __future__ import annotations

import ast
import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from detection import Detections, LayoutParams, letterbox, postprocess
from detection.layouts import detect_layout

BOX_TOLERANCE_PX = 0.5
CONF_TOLERANCE = 1e-4


def oracle_cases() -> list[dict[str, Any]]:
    from tests.conftest import shared_path

    index = shared_path() / "oracle" / "cases.json"
    if not index.is_file():
        return []
    return list(json.loads(index.read_text())["cases"])


@cache
def session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def match_by_content(ours: Detections, theirs: dict[str, np.ndarray]) -> None:
    """Pair every ultralytics detection with one of ours of the same class, box and score.

    Matching by content rather than row keeps the comparison honest where scores tie.
    """
    assert len(ours) == len(theirs["conf"])
    unused = np.ones(len(ours), dtype=bool)
    for i in range(len(theirs["conf"])):
        box_error = np.abs(ours.xyxy - theirs["xyxy"][i]).max(axis=1)
        fits = (
            unused
            & (ours.class_id == int(theirs["cls"][i]))
            & (box_error <= BOX_TOLERANCE_PX)
            & (np.abs(ours.confidence - theirs["conf"][i]) <= CONF_TOLERANCE)
        )
        assert fits.any(), f"ultralytics detection {i} has no counterpart"
        unused[np.flatnonzero(fits)[0]] = False


@pytest.mark.parametrize("case", oracle_cases(), ids=lambda case: case["id"])
def test_detections_equal_ultralytics(case: dict[str, Any], oracle_dir: Path) -> None:
    inputs = np.load(oracle_dir / case["input_npz"])
    expected = dict(np.load(oracle_dir / case["case_npz"]))
    model = session(oracle_dir / case["model"])

    # The geometry is recomputed from the image size and ultralytics' settings, then checked
    # against what LetterBox actually applied.
    imgsz = case["predict_kwargs"]["imgsz"]
    target = (imgsz, imgsz) if isinstance(imgsz, int) else tuple(imgsz)
    transform = letterbox(tuple(case["orig_hw"]), target, auto=case["letterbox_auto"])
    assert transform.input_hw == tuple(case["input_hw"])
    assert transform.pad_ltrb == tuple(inputs["letterbox_pad_ltrb"])

    tensor = inputs["input_uint8"][None].astype(np.float32) / np.float32(255)
    raw = model.run(None, {model.get_inputs()[0].name: tensor})
    np.testing.assert_array_equal(raw[0], np.load(oracle_dir / case["raw_npz"])["raw_output"])

    metadata = model.get_modelmeta().custom_metadata_map
    names = ast.literal_eval(metadata["names"])
    kpt_shape = ast.literal_eval(metadata.get("kpt_shape", "[0, 0]"))
    layout = detect_layout([output.shape for output in raw], metadata, num_classes=len(names))
    params = LayoutParams(
        input_hw=transform.input_hw, num_classes=len(names), num_keypoints=kpt_shape[0]
    )
    (ours,) = postprocess(
        raw,
        transform,
        layout=layout,
        params=params,
        confidence=case["conf"],
        iou=case["iou"],
        max_detections=case["max_det"],
    )

    match_by_content(ours, expected)
    assert ours.xyxy.dtype == np.float32
    assert ours.class_id.dtype == np.int64
    if case["n_tied_detection_scores"] == 0:  # without ties, the order is ultralytics' too
        np.testing.assert_array_equal(ours.class_id, expected["cls"].astype(np.int64))
        np.testing.assert_allclose(ours.xyxy, expected["xyxy"], atol=BOX_TOLERANCE_PX, rtol=0)
    if "keypoints" in expected:
        assert ours.keypoints is not None and ours.keypoint_scores is not None
        np.testing.assert_allclose(
            ours.keypoints, expected["keypoints"][..., :2], atol=BOX_TOLERANCE_PX, rtol=0
        )
        np.testing.assert_allclose(
            ours.keypoint_scores, expected["keypoints"][..., 2], atol=CONF_TOLERANCE, rtol=0
        )


def test_the_oracle_covers_every_export_variant(oracle_dir: Path) -> None:
    models = {Path(case["model"]).stem for case in oracle_cases()}
    assert {"yolov8n_640_static", "yolov8n_dynamic", "yolov8n_nms_640", "yolo26n_e2e_640",
            "yolov8n_pose_640", "yolo11n_640", "yolov8n_nc3_320"} <= models  # fmt: skip
    assert len(oracle_cases()) == 48
