"""Our preprocessing, from the photo file, builds the very network input the reference code built.

- Ultralytics (shared/oracle and shared/oracle/exports, each README lists its rules): every stored
  letterbox input (static 640 and 320, the dynamic export's ``rect`` minimal rectangle and its
  fixed 480x640 run) and every classify-224 input, bit for bit, with the spec resolved from the
  export itself and no model.toml, except for the one run Ultralytics was told ``rect=False``.
- OpenCV's ``FaceRecognizerSF.alignCrop``, SFace's reference: the aligned 112x112 face crops.
- Decoding stays with Pillow because its pixels equal OpenCV's ``imdecode`` here.
"""

from __future__ import annotations

import io
import json
import tomllib
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from service.pipelines.alignment import align_face
from service.pipelines.images import decode_image
from service.pipelines.preprocess import apply_transform, plan_transform, preprocess
from service.repository.config import ModelConfig, parse_config
from service.repository.metadata import ModelSignature
from service.repository.spec import ModelSpec, resolve_spec
from service.runtime.session import ModelSession
from service.settings import Settings
from tests.conftest import shared_path
from tests.integration.face_helpers import FACE_MODELS, detect_faces

# The one oracle run that is not the export's own default: predict(imgsz=[480, 640], rect=False).
NORECT = parse_config(
    tomllib.loads("[input]\nsize = [480, 640]\nauto_stride = false"), source="norect.toml"
)


def _letterbox_runs() -> list[tuple[str, str, str, str]]:
    """(model, photo, run, input npz) of shared/oracle, once per run (both conf values share it)."""
    index = shared_path() / "oracle" / "cases.json"
    if not index.is_file():
        return []
    runs = {
        (c["model"], c["image"], c["run"], c["input_npz"])
        for c in json.loads(index.read_text())["cases"]
    }
    return sorted(runs)


def _export_inputs() -> list[tuple[str, str, str]]:
    """(model, photo, input npz) of shared/oracle/exports: seg, OBB and pose share the letterbox
    input, so the pose export stands for all three; the classify export for the 224 crops."""
    index = shared_path() / "oracle" / "exports" / "cases.json"
    if not index.is_file():
        return []
    inputs = {
        (c["model"], c["image"], c["input_npz"])
        for c in json.loads(index.read_text())["cases"]
        if c["model"] in ("yolov8n_pose", "yolov8n_cls")
    }
    return sorted(inputs)


@cache
def _signature(path: Path) -> ModelSignature:
    return ModelSession(path, Settings(providers=["CPUExecutionProvider"])).signature()


def _spec(path: Path, config: ModelConfig | None) -> ModelSpec:
    """What the service resolves for the export dropped into a models folder."""
    return resolve_spec(config, _signature(path), None)


def _assert_builds(spec: ModelSpec, photo: Path, expected_chw: np.ndarray) -> None:
    """Our uint8 input equals ``expected_chw`` exactly, and so does the float tensor (u8 / 255)."""
    pixels = decode_image(photo.read_bytes(), max_pixels=50_000_000).pixels
    transform = plan_transform(pixels.shape[:2], spec.input, spec.input.stride)
    placed = apply_transform(pixels, transform, spec.input.pad_value, spec.input.interpolation)
    ours = placed.transpose(2, 0, 1)
    assert ours.shape == expected_chw.shape
    diff = np.abs(ours.astype(np.int16) - expected_chw).max()
    assert diff == 0, f"max abs difference {diff} grey levels"
    tensor, _ = preprocess(pixels, spec.input, spec.input.stride)
    np.testing.assert_array_equal(tensor, expected_chw[None].astype(np.float32) / np.float32(255))


@pytest.mark.parametrize(("model", "photo", "run", "npz"), _letterbox_runs())
def test_ultralytics_letterbox_input_bit_for_bit(
    model: str, photo: str, run: str, npz: str, oracle_dir: Path
) -> None:
    spec = _spec(oracle_dir / model, NORECT if run == "480x640_norect" else None)
    assert spec.input.interpolation == "linear"
    stored = np.load(oracle_dir / npz)
    assert spec.input.auto_stride == bool(stored["letterbox_auto"])  # rect only when dynamic
    _assert_builds(spec, oracle_dir / photo, stored["input_uint8"])


@pytest.mark.parametrize(("model", "photo", "npz"), _export_inputs())
def test_ultralytics_export_input_bit_for_bit(
    model: str, photo: str, npz: str, oracle_dir: Path
) -> None:
    exports = oracle_dir / "exports"
    spec = _spec(exports / "models" / f"{model}.onnx", None)
    if model == "yolov8n_cls":  # classify_transforms: Resize(224) on PIL, CenterCrop(224)
        assert (spec.input.resize, spec.input.resize_short) == ("crop", 224)
        assert (spec.input.interpolation, spec.output.kind) == ("antialias", "probabilities")
    _assert_builds(spec, exports / "images" / photo, np.load(exports / npz)["input_uint8_rgb_chw"])


def test_every_oracle_input_is_checked(oracle_dir: Path) -> None:
    checked = {npz for *_, npz in _letterbox_runs()}
    assert checked == {f"inputs/{p.name}" for p in (oracle_dir / "inputs").glob("*.npz")}
    exported = {npz for *_, npz in _export_inputs()}
    inputs = (oracle_dir / "exports" / "inputs").glob("*.npz")
    assert exported == {f"inputs/{p.name}" for p in inputs}
    assert len(checked) == 12 and len(exported) == 12


@pytest.mark.parametrize("photo", ["insightface_t1.jpg", "fr_obama1.jpg"])
def test_alignment_is_opencvs_align_crop(photo: str, models_dir: Path, images_dir: Path) -> None:
    """SFace's reference crops the face with cv::FaceRecognizerSF::alignCrop (warpAffine, linear).

    Its similarity transform is computed in float32 with a rounded template mean, ours in
    float64, so a few pixels may round the other way: at most one grey level apart.
    """
    image = Image.open(images_dir / photo).convert("RGB")
    pixels = np.asarray(image)
    faces = detect_faces(models_dir, FACE_MODELS["yunet"], image)
    assert faces.keypoints is not None and len(faces) >= 1
    recognizer = cv2.FaceRecognizerSF.create(
        str(models_dir / "face_recognition_sface_2021dec.onnx"), ""
    )
    bgr = np.ascontiguousarray(pixels[..., ::-1])
    for box, marks in zip(faces.xyxy, faces.keypoints, strict=True):
        row = np.zeros((1, 15), np.float32)
        row[0, :4] = [box[0], box[1], box[2] - box[0], box[3] - box[1]]
        row[0, 4:14] = marks.reshape(-1)
        theirs = recognizer.alignCrop(bgr, row)[..., ::-1]
        ours = align_face(pixels, marks)
        difference = np.abs(ours.astype(np.int16) - theirs)
        assert difference.max() <= 1
        assert (difference == 0).mean() > 0.99


def _opencv_decoded(data: bytes) -> np.ndarray:
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert bgr is not None
    return np.ascontiguousarray(bgr[..., ::-1])


def _photos() -> list[Path]:
    root = shared_path()
    folders = [root / "images", root / "oracle" / "images", root / "oracle" / "exports" / "images"]
    return sorted(
        p for f in folders if f.is_dir() for p in f.iterdir() if p.suffix in (".jpg", ".png")
    )


@pytest.mark.parametrize("photo", _photos(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_pillow_decodes_jpeg_and_png_as_opencv_does(photo: Path) -> None:
    data = photo.read_bytes()
    ours = decode_image(data, max_pixels=50_000_000).pixels
    np.testing.assert_array_equal(ours, _opencv_decoded(data))


@pytest.mark.parametrize("lossless", [False, True])
def test_pillow_decodes_webp_as_opencv_does(lossless: bool, images_dir: Path) -> None:
    buffer = io.BytesIO()
    Image.open(images_dir / "ul_bus.jpg").save(buffer, format="WEBP", lossless=lossless, quality=80)
    data = buffer.getvalue()
    ours = decode_image(data, max_pixels=50_000_000).pixels
    np.testing.assert_array_equal(ours, _opencv_decoded(data))
