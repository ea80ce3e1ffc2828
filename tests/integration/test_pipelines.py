"""Task pipelines on real models and photos, through the same registry the service uses."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from detection import box_iou
from service.pipelines.classifier import Classifier
from service.pipelines.detector import Detector, FaceDetector
from service.pipelines.embedder import FaceEmbedder
from service.pipelines.images import decode_image
from service.pipelines.registry import ModelRegistry
from service.pipelines.results import DetectionResult
from service.settings import Settings

CAT_CLASSES = {"Egyptian cat", "tabby", "tiger cat"}


@pytest.fixture(scope="module")
def registry(pulled_models_dir: Path) -> ModelRegistry:
    loaded = ModelRegistry(
        Settings(models_dir=pulled_models_dir, providers=["CPUExecutionProvider"])
    )
    loaded.load_all()
    assert loaded.ready, loaded.status()
    return loaded


def photo(images_dir: Path, name: str) -> np.ndarray:
    return decode_image((images_dir / name).read_bytes(), max_pixels=50_000_000).pixels


def test_yolox_nano_finds_the_bus_and_three_people(
    registry: ModelRegistry, images_dir: Path
) -> None:
    detector = registry.get(Detector, "yolox_nano")
    assert isinstance(detector, Detector)
    result = detector.run(photo(images_dir, "ul_bus.jpg"))
    assert result.labels.count("bus") == 1
    assert result.labels.count("person") >= 3
    # MANIFEST's verified YOLOX-nano result, bus [5, 229, 805, 737], was made with Pillow's
    # resize; YOLOX's own cv2.resize (the service's now) gives [13, 231, 801, 735], IoU 0.98.
    bus = result.xyxy[result.labels.index("bus")]
    assert box_iou(bus[None], np.array([[5, 229, 805, 737]]))[0, 0] > 0.95
    assert result.model.provider == "CPUExecutionProvider"


def test_the_other_detector_layouts_agree_on_the_bus(
    registry: ModelRegistry, images_dir: Path
) -> None:
    pixels = photo(images_dir, "ul_bus.jpg")
    for name in ("yolov8n_coco_dynint8", "yolov5n_coco_fp16"):
        result = registry.get(Detector, name).run(pixels)
        assert "bus" in result.labels, name
        assert result.labels.count("person") >= 3, name


def test_yolox_finds_the_cat(registry: ModelRegistry, images_dir: Path) -> None:
    result = registry.get(Detector).run(photo(images_dir, "chelsea.jpg"))
    assert result.labels[:1] == ["cat"]


@pytest.mark.parametrize(
    ("image", "expected"), [("chelsea.jpg", CAT_CLASSES), ("coffee.jpg", {"espresso"})]
)
def test_mobilenetv2_ranks_the_right_class_first(
    registry: ModelRegistry, images_dir: Path, image: str, expected: set[str]
) -> None:
    classifier = registry.get(Classifier)
    assert isinstance(classifier, Classifier)
    result = classifier.run(photo(images_dir, image), top_k=5)
    assert result.predictions[0].label in expected
    scores = [p.score for p in result.predictions]
    assert scores == sorted(scores, reverse=True)
    assert 0 < sum(scores) <= 1.0 + 1e-6


def faces_of(
    registry: ModelRegistry, pixels: np.ndarray, model: str | None = None
) -> DetectionResult:
    return registry.get(FaceDetector, model).run(pixels)


@pytest.mark.parametrize(
    "model",
    ["face_detection_yunet_2023mar", "retinaface_mobilenet0.25_640", "scrfd_500m_kps",
     "scrfd_2.5g_kps", "ultraface_version-RFB-320"],
)  # fmt: skip
def test_each_face_detector_finds_the_six_faces(
    registry: ModelRegistry, images_dir: Path, model: str
) -> None:
    result = faces_of(registry, photo(images_dir, "insightface_t1.jpg"), model)
    assert len(result.confidence) == 6
    if result.keypoints is not None:
        x, y = result.keypoints[..., 0], result.keypoints[..., 1]
        box = result.xyxy[:, None, :]
        assert (
            (x >= box[..., 0]) & (x <= box[..., 2]) & (y >= box[..., 1]) & (y <= box[..., 3])
        ).all()


def flipped(pixels: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(pixels).transpose(Image.Transpose.FLIP_LEFT_RIGHT))


def brightened(pixels: np.ndarray) -> np.ndarray:
    return np.asarray(ImageEnhance.Brightness(Image.fromarray(pixels)).enhance(1.3))


# SFace (the default) keeps every face through a flip and a brightening at once. MobileFaceNet
# (a licence-unknown fixture) keeps them through each alone, but one face of t1 drops to 0.28
# when both are combined, so it is held to the single alterations.
@pytest.mark.parametrize(
    ("embedder_name", "alterations"),
    [
        ("face_recognition_sface_2021dec", (flipped, brightened)),
        ("mobilefacenet_128d", (flipped,)),
        ("mobilefacenet_128d", (brightened,)),
    ],
)
def test_embedder_separates_people_and_keeps_a_face_through_alterations(
    registry: ModelRegistry,
    images_dir: Path,
    embedder_name: str,
    alterations: tuple[Callable[[np.ndarray], np.ndarray], ...],
) -> None:
    embedder = registry.get(FaceEmbedder, embedder_name)
    assert isinstance(embedder, FaceEmbedder)
    pixels = photo(images_dir, "insightface_t1.jpg")
    faces = faces_of(registry, pixels)
    assert faces.keypoints is not None
    vectors = np.stack([embedder.embed(pixels, marks).vector for marks in faces.keypoints])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    cosines = vectors @ vectors.T
    different_people = cosines[~np.eye(len(vectors), dtype=bool)]
    assert different_people.max() < embedder.threshold

    altered = pixels
    for alteration in alterations:
        altered = alteration(altered)
    altered_faces = faces_of(registry, altered)
    assert altered_faces.keypoints is not None
    width = pixels.shape[1]
    for vector, box in zip(vectors, faces.xyxy, strict=True):
        moved = (
            np.array([width - box[2], box[1], width - box[0], box[3]])
            if flipped in alterations
            else box
        )
        same = int(box_iou(moved[None], altered_faces.xyxy)[0].argmax())
        marks = altered_faces.keypoints[same]
        assert float(vector @ embedder.embed(altered, marks).vector) > embedder.threshold
