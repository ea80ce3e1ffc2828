"""Running the real face detectors as shared/models/MANIFEST.md prescribes, for the tests.

Each model's preprocessing (resize mode, colour order, mean, scale) and post-processing
thresholds are copied from its MANIFEST section. The geometry comes from ``detection``'s own
Transform record; the pixels are resized to ``resized_hw`` and pasted at the recorded offset,
with the filter of each model's reference demo by default (all call ``cv2.resize`` with
INTER_LINEAR, see README "Preprocessing"), or with "antialias", the Pillow bilinear resize of
MANIFEST's verify.py, to reproduce the MANIFEST's own numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from detection import Detections, LayoutParams, Transform, letterbox, postprocess, stretch
from service.pipelines.resize import resize
from service.repository.config import Interpolation

REFERENCE: Interpolation = "linear"  # cv2.resize(INTER_LINEAR) in every face model's demo


@dataclass(frozen=True)
class FaceModel:
    """One face detector and the MANIFEST's recipe for it."""

    file: str
    layout: str
    input_hw: tuple[int, int]
    resize: str  # "letterbox" (top-left, pad 0), "letterbox-auto" (pad to x32), "stretch"
    bgr: bool
    mean: float | tuple[float, float, float]
    scale: float
    confidence: float
    iou: float


FACE_MODELS: dict[str, FaceModel] = {
    "yunet": FaceModel(
        "face_detection_yunet_2023mar.onnx", "yunet", (640, 640), "letterbox", True, 0, 1, 0.6, 0.3
    ),
    "scrfd_500m": FaceModel(
        "scrfd_500m_kps.onnx", "scrfd", (640, 640), "letterbox", False, 127.5, 1 / 128, 0.5, 0.4
    ),
    "scrfd_2.5g": FaceModel(
        "scrfd_2.5g_kps.onnx", "scrfd", (640, 640), "letterbox", False, 127.5, 1 / 128, 0.5, 0.4
    ),
    "retinaface": FaceModel(
        "retinaface_mobilenet0.25_640.onnx",
        "retinaface",
        (640, 640),
        "letterbox",
        True,
        (104, 117, 123),  # B, G, R
        1,
        0.6,
        0.4,
    ),
    "ultraface": FaceModel(
        "ultraface_version-RFB-320.onnx",
        "ultraface",
        (240, 320),
        "stretch",
        False,
        127,
        1 / 128,
        0.7,
        0.3,
    ),
    "centerface": FaceModel(
        "centerface_dynamic.onnx", "centerface", (640, 640), "letterbox-auto", True, 0, 1, 0.5, 0.3
    ),
}


@cache
def session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def transform_for(model: FaceModel, image_hw: tuple[int, int]) -> Transform:
    if model.resize == "stretch":
        return stretch(image_hw, model.input_hw)
    return letterbox(image_hw, model.input_hw, center=False, auto=model.resize == "letterbox-auto")


def preprocess(
    model: FaceModel, image: Image.Image, interpolation: Interpolation = REFERENCE
) -> tuple[np.ndarray, Transform]:
    """NCHW float32 tensor and the Transform that made it."""
    transform = transform_for(model, (image.height, image.width))
    (height, width), (new_h, new_w) = transform.input_hw, transform.resized_hw
    canvas = np.zeros((height, width, 3), np.uint8)  # black: pad 0
    left, top = transform.offset_xy
    canvas[top : top + new_h, left : left + new_w] = resize(
        np.asarray(image), (new_h, new_w), interpolation
    )
    pixels = canvas.astype(np.float32)
    if model.bgr:
        pixels = pixels[..., ::-1]
    pixels = (pixels - np.asarray(model.mean, dtype=np.float32)) * model.scale
    return np.ascontiguousarray(pixels.transpose(2, 0, 1)[None]), transform


def run_model(
    models_dir: Path, model: FaceModel, image: Image.Image, interpolation: Interpolation = REFERENCE
) -> tuple[list[np.ndarray], Transform]:
    """Raw outputs (export order) and the Transform of one image."""
    tensor, transform = preprocess(model, image, interpolation)
    sess = session(models_dir / model.file)
    return sess.run(None, {sess.get_inputs()[0].name: tensor}), transform


def detect_faces(
    models_dir: Path,
    model: FaceModel,
    image: Image.Image,
    reorder: bool = False,
    interpolation: Interpolation = REFERENCE,
) -> Detections:
    """Detections of one image in its pixels; ``reorder`` feeds the outputs reversed."""
    outputs, transform = run_model(models_dir, model, image, interpolation)
    if reorder:
        outputs = outputs[::-1]
    (result,) = postprocess(
        outputs,
        transform,
        layout=model.layout,
        params=LayoutParams(input_hw=transform.input_hw),
        confidence=model.confidence,
        iou=model.iou,
    )
    return result
