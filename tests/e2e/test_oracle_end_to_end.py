"""Photo file in, Ultralytics' own answer out, through the real HTTP server.

Every case of ``shared/oracle`` (detect, dynamic, ``nms=True``, YOLO11, YOLO26 end-to-end, pose,
nc=3) and of ``shared/oracle/exports`` (segment, OBB, pose with visibility, classify) is posted
as the photo file itself to a ``python -m service serve`` whose models folder holds each export
exactly as Ultralytics wrote it, with no model.toml; only the one case that asks Ultralytics for
a non-square input without ``rect`` (``imgsz=[480, 640], rect=False``) gets a folder with a
model.toml saying so, as a user would write it. The answers must equal Ultralytics' recorded
``predict()`` results (the READMEs beside them list its rules and versions).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from tests.conftest import shared_path
from tests.e2e.conftest import LiveServer, server_starter

BOX_PX = 0.5
SCORE = 1e-4
ANGLE_RAD = 1e-4
MASK_IOU = 0.99
# The one oracle run that is not the export's own default: a fixed 480x640 letterbox.
NORECT_FOLDER = "yolov8n_dynamic_480x640"
NORECT_TOML = """# Ultralytics predict(imgsz=[480, 640], rect=False) on a dynamic export
[input]
size = [480, 640]
auto_stride = false
"""


def _cases(index: Path) -> list[dict[str, Any]]:
    return list(json.loads(index.read_text())["cases"]) if index.is_file() else []


def _link(folder: Path, model: Path) -> None:
    """``folder/model.onnx`` pointing at ``model``, with any external-data file beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    os.symlink(model, folder / "model.onnx")
    for weights in model.parent.glob("*.weights.bin"):
        os.symlink(weights, folder / weights.name)


@pytest.fixture(scope="module")
def oracle_server(
    oracle_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One server over every oracle export, as dropped into a models folder."""
    models = tmp_path_factory.mktemp("oracle-models")
    for onnx in [*oracle_dir.glob("models/*.onnx"), *oracle_dir.glob("exports/models/*.onnx")]:
        _link(models / onnx.stem, onnx)
    _link(models / NORECT_FOLDER, oracle_dir / "models" / "yolov8n_dynamic.onnx")
    (models / NORECT_FOLDER / "model.toml").write_text(NORECT_TOML)
    with server_starter(models, tmp_path_factory)() as server:
        yield server


def _post(server: LiveServer, route: str, photo: Path, params: dict[str, Any]) -> dict[str, Any]:
    with httpx.Client(base_url=server.url, timeout=120.0) as client:
        response = client.post(
            route, params=params, files={"image": (photo.name, photo.read_bytes())}
        )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _folder(case: dict[str, Any]) -> str:
    stem = Path(case["model"]).stem
    return NORECT_FOLDER if case["run"] == "480x640_norect" else stem


def _check_boxes(found: list[dict[str, Any]], want: Any) -> None:
    assert len(found) == len(want["conf"]), (len(found), len(want["conf"]))
    if not found:
        return
    classes = [d["class_id"] for d in found]
    assert classes == want["cls"].astype(int).tolist()
    boxes = np.array([[d["box"][k] for k in ("x1", "y1", "x2", "y2")] for d in found])
    np.testing.assert_allclose(boxes, want["xyxy"], atol=BOX_PX, rtol=0)
    scores = np.array([d["confidence"] for d in found])
    np.testing.assert_allclose(scores, want["conf"], atol=SCORE, rtol=0)


def _check_keypoints(found: list[dict[str, Any]], want: Any) -> None:
    points = np.array([d["keypoints"] for d in found], dtype=np.float64).reshape(want.shape)
    np.testing.assert_allclose(points[..., :2], want[..., :2], atol=BOX_PX, rtol=0)
    np.testing.assert_allclose(points[..., 2], want[..., 2], atol=SCORE, rtol=0)


DETECT_CASES = _cases(shared_path() / "oracle" / "cases.json")


@pytest.mark.parametrize("case", DETECT_CASES, ids=[c["id"] for c in DETECT_CASES])
def test_detect_cases_equal_ultralytics(
    oracle_server: LiveServer, oracle_dir: Path, case: dict[str, Any]
) -> None:
    params = {
        "model": _folder(case),
        "confidence": case["conf"],
        "iou": case["iou"],
        "max_detections": case["max_det"],
    }
    answer = _post(oracle_server, "/detect", oracle_dir / case["image"], params)
    want = np.load(oracle_dir / case["case_npz"])
    _check_boxes(answer["detections"], want)
    if "keypoints" in want.files and len(want["conf"]):
        _check_keypoints(answer["detections"], want["keypoints"])


EXPORTS = (
    json.loads((shared_path() / "oracle/exports/cases.json").read_text())
    if (shared_path() / "oracle/exports/cases.json").is_file()
    else {"cases": []}
)
EXPORT_CASES = list(EXPORTS["cases"])


def _export_params(case: dict[str, Any]) -> dict[str, Any]:
    """Only the model: these cases were recorded with Ultralytics' predict() defaults (conf
    0.25, iou 0.7, max_det 300), so our defaults for its exports must give the same answer."""
    assert (EXPORTS["conf"], EXPORTS["iou"], EXPORTS["max_det"]) == (0.25, 0.7, 300)
    return {"model": case["model"]}


def _raster(polygon: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """A polygon filled at the original size, as a boolean mask."""
    canvas = np.zeros(hw, np.uint8)
    if len(polygon) >= 3:
        cv2.fillPoly(canvas, [np.round(polygon).astype(np.int32)], 1)
    return canvas.astype(bool)


def _check_masks(found: list[dict[str, Any]], want: Any, hw: tuple[int, int]) -> None:
    ends = np.cumsum(want["mask_poly_len"]).tolist()
    theirs = np.split(want["mask_poly_xy"], ends[:-1]) if ends else []
    for i, (detection, polygon) in enumerate(zip(found, theirs, strict=True)):
        ours = _raster(np.array(detection["mask"]["polygon"], np.float64).reshape(-1, 2), hw)
        reference = _raster(polygon, hw)
        union = np.logical_or(ours, reference).sum()
        iou = np.logical_and(ours, reference).sum() / union if union else 1.0
        assert iou >= MASK_IOU, f"detection {i}: mask IoU {iou:.4f}"


def _check_rotated(found: list[dict[str, Any]], want: Any) -> None:
    rotated = np.array(
        [[d["rotated_box"][k] for k in ("cx", "cy", "width", "height", "angle")] for d in found]
    ).reshape(-1, 5)
    np.testing.assert_allclose(rotated[:, :4], want["xywhr"][:, :4], atol=BOX_PX, rtol=0)
    np.testing.assert_allclose(rotated[:, 4], want["xywhr"][:, 4], atol=ANGLE_RAD, rtol=0)
    corners = np.array([d["rotated_box"]["polygon"] for d in found]).reshape(-1, 4, 2)
    np.testing.assert_allclose(corners, want["xyxyxyxy"], atol=BOX_PX, rtol=0)


@pytest.mark.parametrize("case", EXPORT_CASES, ids=[c["id"] for c in EXPORT_CASES])
def test_export_cases_equal_ultralytics(
    oracle_server: LiveServer, oracle_dir: Path, case: dict[str, Any]
) -> None:
    photo = oracle_dir / "exports" / "images" / case["image"]
    want = np.load(oracle_dir / "exports" / case["case_npz"])
    if case["task"] == "classify":
        answer = _post(oracle_server, "/classify", photo, {"model": case["model"], "top_k": 5})
        predictions = answer["predictions"]
        assert [p["class_id"] for p in predictions] == want["top5"].tolist()
        scores = [p["score"] for p in predictions]
        np.testing.assert_allclose(scores, want["top5conf"], atol=SCORE, rtol=0)
        return
    answer = _post(oracle_server, "/detect", photo, _export_params(case))
    found = answer["detections"]
    if case["task"] == "obb":
        assert [d["class_id"] for d in found] == want["cls"].astype(int).tolist()
        np.testing.assert_allclose([d["confidence"] for d in found], want["conf"], atol=SCORE)
        _check_rotated(found, want)
        hull = np.array([[d["box"][k] for k in ("x1", "y1", "x2", "y2")] for d in found])
        np.testing.assert_allclose(hull.reshape(-1, 4), want["xyxy"], atol=BOX_PX, rtol=0)
        return
    _check_boxes(found, want)
    if case["task"] == "pose" and len(found):
        _check_keypoints(found, want["keypoints"])
    if case["task"] == "segment":
        _check_masks(found, want, (int(want["orig_hw"][0]), int(want["orig_hw"][1])))


def test_rle_masks_decode_with_pycocotools_to_ultralytics_masks(
    oracle_server: LiveServer, oracle_dir: Path
) -> None:
    """mask_format=rle: each mask in photo pixels, read back by pycocotools and shrunk into the
    letterbox, covers Ultralytics' own network-input mask (results.masks.data)."""
    from pycocotools import mask as coco_mask

    case = next(c for c in EXPORT_CASES if c["id"] == "yolov8n_seg__fr_two_people")
    photo = oracle_dir / "exports" / "images" / case["image"]
    params = {**_export_params(case), "mask_format": "rle"}
    found = _post(oracle_server, "/detect", photo, params)["detections"]
    want = np.load(oracle_dir / "exports" / case["case_npz"])
    reference = np.unpackbits(want["masks_packed"], axis=-1, count=640).astype(bool)
    inputs = np.load(oracle_dir / "exports" / case["input_npz"])
    (height, width), (input_h, input_w) = case["orig_hw"], case["input_hw"]
    gain = min(input_h / height, input_w / width)
    resized_h, resized_w = round(height * gain), round(width * gain)
    top, left = round((input_h - resized_h) / 2 - 0.1), round((input_w - resized_w) / 2 - 0.1)
    assert inputs["input_uint8_rgb_chw"].shape[1:] == (input_h, input_w)
    assert len(found) == len(reference) > 0
    for i, detection in enumerate(found):
        rle = detection["mask"]["rle"]
        assert rle["size"] == [height, width]
        decoded = coco_mask.decode({"size": rle["size"], "counts": rle["counts"].encode()})
        shrunk = cv2.resize(decoded * 255, (resized_w, resized_h), interpolation=cv2.INTER_AREA)
        theirs = reference[i][top : top + resized_h, left : left + resized_w]
        ours = shrunk >= 128
        iou = np.logical_and(ours, theirs).sum() / np.logical_or(ours, theirs).sum()
        assert iou >= MASK_IOU, f"detection {i}: IoU {iou:.4f}"


@pytest.mark.parametrize("model", ["yolov8n_seg", "yolov8n_obb", "yolov8n_pose"])
def test_deepstack_routes_answer_plain_boxes_for_every_head(
    oracle_server: LiveServer, oracle_dir: Path, model: str
) -> None:
    """DeepStack's format has no masks, angles or keypoints: the same detections as plain
    integer boxes (an oriented box as its axis-aligned hull), best first."""
    case = next(c for c in EXPORT_CASES if c["id"] == f"{model}__fr_two_people")
    photo = oracle_dir / "exports" / "images" / case["image"]
    want = np.load(oracle_dir / "exports" / case["case_npz"])
    with httpx.Client(base_url=oracle_server.url, timeout=120.0) as client:
        response = client.post(
            f"/v1/vision/custom/{model}",
            data={"min_confidence": "0.25"},
            files={"image": (photo.name, photo.read_bytes())},
        )
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert len(predictions) == len(want["conf"]) > 0
    assert {key for p in predictions for key in p} == {
        "label",
        "confidence",
        "x_min",
        "y_min",
        "x_max",
        "y_max",
    }
    hull = np.array([[p[k] for k in ("x_min", "y_min", "x_max", "y_max")] for p in predictions])
    order = np.argsort(-want["conf"], kind="stable")
    np.testing.assert_allclose(hull, want["xyxy"][order], atol=1.0)
