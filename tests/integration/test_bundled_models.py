"""The bundled model.toml files resolve against the real ONNX files as MANIFEST.md describes them.

The signature is read with the `onnx` package (a dev dependency), so this checks the
repository's files without onnxruntime; expected values are MANIFEST's, written out by hand.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from service.repository.catalog import bundled_catalog_path, load_catalog
from service.repository.loader import read_entry
from service.repository.metadata import Dim, ModelSignature, TensorInfo
from service.repository.spec import ModelSpec

onnx = pytest.importorskip("onnx", reason="the onnx package (dev dependency) reads signatures")

BUNDLED = bundled_catalog_path().parent
ORT_TYPES = {1: "tensor(float)", 10: "tensor(float16)"}


def read_signature(path: Path) -> ModelSignature:
    model = onnx.load(str(path), load_external_data=False)
    weights = {init.name for init in model.graph.initializer}

    def info(value: object) -> TensorInfo:
        tensor = value.type.tensor_type  # type: ignore[attr-defined]
        dims: list[Dim] = [
            d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
            for d in tensor.shape.dim
        ]
        return TensorInfo(value.name, tuple(dims), ORT_TYPES[tensor.elem_type])  # type: ignore[attr-defined]

    return ModelSignature(
        inputs=tuple(info(v) for v in model.graph.input if v.name not in weights),
        outputs=tuple(info(v) for v in model.graph.output),
        metadata={prop.key: prop.value for prop in model.metadata_props},
    )


def resolve(name: str, models_dir: Path) -> ModelSpec:
    catalog = load_catalog(bundled_catalog_path())
    onnx_file = next(f.file for f in catalog.models[name].files if f.save_as == "model.onnx")
    return read_entry(BUNDLED / name).resolve(read_signature(models_dir / onnx_file))


# name: task, (h, w), resize, placement, pad, color, scale, mean, std, dtype, labels, layout
MANIFEST = {
    "yolox_nano": ("detect", (416, 416), "letterbox", "top-left", 114, "BGR", 1.0, 0.0, 1.0, "float32", 80, "yolox"),
    "mobilenetv2_float32": ("classify", (224, 224), "crop", None, None, "RGB", 1 / 255, None, None, "float32", 1000, None),
    "face_detection_yunet_2023mar": ("face-detect", (640, 640), "letterbox", "top-left", 0, "BGR", 1.0, 0.0, 1.0, "float32", 1, "yunet"),
    "face_recognition_sface_2021dec": ("face-embed", (112, 112), "stretch", None, None, "RGB", 1.0, 0.0, 1.0, "float32", 0, None),
    "yolov8n_coco_dynint8": ("detect", (640, 640), "letterbox", "center", 114, "RGB", 1 / 255, 0.0, 1.0, "float32", 80, None),
    "yolov5n_coco_fp16": ("detect", (640, 640), "letterbox", "center", 114, "RGB", 1 / 255, 0.0, 1.0, "float16", 80, "yolov5"),
    "retinaface_mobilenet0.25_640": ("face-detect", (640, 640), "letterbox", "top-left", 0, "BGR", 1.0, None, 1.0, "float32", 1, "retinaface"),
    "scrfd_500m_kps": ("face-detect", (640, 640), "letterbox", "top-left", 0, "RGB", 1.0, 127.5, 128.0, "float32", 1, "scrfd"),
    "scrfd_2.5g_kps": ("face-detect", (640, 640), "letterbox", "top-left", 0, "RGB", 1.0, 127.5, 128.0, "float32", 1, "scrfd"),
    "ultraface_version-RFB-320": ("face-detect", (240, 320), "stretch", None, None, "RGB", 1.0, 127.0, 128.0, "float32", 1, "ultraface"),
    "mobilefacenet_128d": ("face-embed", (112, 112), "stretch", None, None, "RGB", 1.0, 127.5, 128.0, "float32", 0, None),
    "multistyle26": ("stylize", (256, 256), "stretch", None, None, "RGB", 1 / 255, 0.0, 1.0, "float32", 0, None),
    "arbitrary_predict": ("style-predict", (256, 256), "crop", None, None, "RGB", 1 / 255, 0.0, 1.0, "float32", 0, None),
    "arbitrary_transform": ("style-transfer", (384, 384), "letterbox", "top-left", 114, "RGB", 1 / 255, 0.0, 1.0, "float32", 0, None),
}  # fmt: skip


# The resampling filter of each model's reference code (README, "Preprocessing"); None: the style
# models resize with a filter of their own and refuse [input] interpolation.
INTERPOLATION = {
    "yolox_nano": "linear",  # YOLOX preproc(): cv2.resize INTER_LINEAR
    "yolov8n_coco_dynint8": "linear",  # Ultralytics LetterBox: cv2.resize INTER_LINEAR
    "yolov5n_coco_fp16": "linear",  # YOLOv5 letterbox(): cv2.resize INTER_LINEAR
    "mobilenetv2_float32": "antialias",  # torchvision Resize(256) on a PIL image
    "face_detection_yunet_2023mar": "linear",  # OpenCV's pipeline (no resize in its demo)
    "face_recognition_sface_2021dec": "linear",  # FaceRecognizerSF: warpAffine / blob resize
    "mobilefacenet_128d": "linear",  # insightface-style: warpAffine, cv2 blob resize
    "retinaface_mobilenet0.25_640": "linear",  # Pytorch_Retinaface: cv2.resize INTER_LINEAR
    "scrfd_500m_kps": "linear",  # insightface SCRFD.detect: cv2.resize
    "scrfd_2.5g_kps": "linear",
    "ultraface_version-RFB-320": "linear",  # detect_imgs_onnx.py: cv2.resize
    "arbitrary_predict": "antialias",  # its packager's Pillow Lanczos: the nearest filter here
    "multistyle26": None,
    "arbitrary_transform": None,
}


def test_every_catalog_model_is_checked_here() -> None:
    assert set(MANIFEST) == set(load_catalog(bundled_catalog_path()).models) == set(INTERPOLATION)


@pytest.mark.parametrize("name", sorted(INTERPOLATION))
def test_each_model_resamples_as_its_reference_code(name: str, models_dir: Path) -> None:
    spec = resolve(name, models_dir)
    if INTERPOLATION[name] is None:
        assert spec.task in ("stylize", "style-transfer")
    else:
        assert spec.input.interpolation == INTERPOLATION[name]
        assert spec.input.auto_stride is False  # none is a dynamic Ultralytics export


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_bundled_config_matches_manifest(name: str, models_dir: Path) -> None:
    task, size, resize, placement, pad, color, scale, mean, std, dtype, labels, layout = MANIFEST[
        name
    ]
    spec = resolve(name, models_dir)
    assert (spec.task, spec.input.size, spec.input.resize) == (task, size, resize)
    if placement is not None:
        assert (spec.input.placement, spec.input.pad_value) == (placement, pad)
    assert (spec.input.color, spec.input.dtype) == (color, dtype)
    assert spec.input.scale == pytest.approx(scale)
    if mean is not None:
        assert spec.input.mean == (mean,) * 3 and spec.input.std == (std,) * 3
    assert len(spec.labels) == labels
    assert spec.output.layout == layout


def test_classifier_normalisation(models_dir: Path) -> None:
    spec = resolve("mobilenetv2_float32", models_dir)
    assert spec.input.resize_short == 256
    assert spec.input.mean == pytest.approx((0.485, 0.456, 0.406))
    assert spec.input.std == pytest.approx((0.229, 0.224, 0.225))
    assert (spec.labels[285], spec.labels[967]) == ("Egyptian cat", "espresso")
    assert spec.output.kind == "logits"


def test_retinaface_subtracts_bgr_means(models_dir: Path) -> None:
    assert resolve("retinaface_mobilenet0.25_640", models_dir).input.mean == (104.0, 117.0, 123.0)


def test_embedder_thresholds(models_dir: Path) -> None:
    assert resolve("face_recognition_sface_2021dec", models_dir).similarity == 0.363
    assert resolve("mobilefacenet_128d", models_dir).similarity == 0.48


def test_scrfd_input_is_dynamic(models_dir: Path) -> None:
    spec = resolve("scrfd_500m_kps", models_dir)
    assert spec.input.dynamic_hw is True and spec.input.batch == 1


def test_yolox_labels_are_the_ultralytics_coco_names(models_dir: Path) -> None:
    """Our hand-written COCO list equals the names YOLOv8n's own metadata carries."""
    assert (
        resolve("yolox_nano", models_dir).labels
        == resolve("yolov8n_coco_dynint8", models_dir).labels
    )


def test_style_models_read_their_second_tensor(models_dir: Path) -> None:
    """MANIFEST: 26 style weights, 4-multiple output, sides >= 32; a [1,1,1,100] NHWC pair."""
    fixed = resolve("multistyle26", models_dir).style
    assert fixed is not None
    assert (fixed.input, fixed.shape, fixed.multiple, fixed.min_side) == (
        "style_weights",
        (26,),
        4,
        32,
    )
    predict = resolve("arbitrary_predict", models_dir)
    assert predict.style is not None and predict.style.shape == (1, 1, 1, 100)
    assert (predict.input.layout, predict.input.resize_short) == ("NHWC", 256)
    transform = resolve("arbitrary_transform", models_dir)
    assert transform.style is not None
    assert (transform.style.input, transform.style.shape, transform.style.predictor) == (
        "mobilenet_conv/Conv/BiasAdd",
        (1, 1, 1, 100),
        "arbitrary_predict",
    )
    assert (transform.input.layout, transform.input.dynamic_hw) == ("NHWC", False)


def test_yunet_sees_small_photos_at_their_own_size(models_dir: Path) -> None:
    """Its reference runs the network at the photo's size: only larger photos are shrunk."""
    assert resolve("face_detection_yunet_2023mar", models_dir).input.scale_up is False
