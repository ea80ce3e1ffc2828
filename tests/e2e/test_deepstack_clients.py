"""The DeepStack / CodeProject.AI client breakages of issue 17, replayed from the clients'
own code against a real uvicorn: Viseron's face training on a fresh gallery (with the
``codeproject-ai-api`` library it uses), deepstack-sdk's ``deleteFace`` of an unknown user,
an old SynoAI body with a nameless part, and Frigate's 20-prediction limit.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import requests
from codeprojectai import core as cpai
from PIL import Image

from tests.conftest import REPO_ROOT
from tests.e2e.conftest import LiveServer, server_starter
from tests.e2e.test_deepstack import port_of

UNPULLED = "yolov5n_coco_fp16"


@pytest.fixture(scope="module")
def fresh_server(
    e2e_models_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """The default models plus a catalog model that is not pulled (its model.toml only, as
    the bundled repository has it), and an empty gallery."""
    models = tmp_path_factory.mktemp("models-one-unpulled") / "models"
    shutil.copytree(e2e_models_dir, models)
    shutil.copytree(REPO_ROOT / "models" / UNPULLED, models / UNPULLED, ignore=_onnx)
    start_server = server_starter(models, tmp_path_factory)
    gallery = tmp_path_factory.mktemp("viseron") / "gallery.sqlite3"
    with start_server(VISION_GALLERY_PATH=str(gallery), VISION_DEEPSTACK_MAX_PREDICTIONS="20") as s:
        yield s


def _onnx(folder: str, names: list[str]) -> list[str]:
    return [name for name in names if name.endswith(".onnx")]


class ViseronFace(cpai.CodeProjectAIFace):  # type: ignore[misc]
    """Viseron's ``CodeProjectAIFace`` (components/codeprojectai/face_recognition.py): the
    library's class plus ``delete_face``, posted with requests, raising on any non-200."""

    def delete_face(self, face: str) -> dict[str, object]:
        response = requests.post(
            self._url_base + "/face/delete", data={"userid": face}, timeout=self.timeout
        )
        if response.status_code != 200:
            raise cpai.CodeProjectAIException(f"status code: {response.status_code}")
        body: dict[str, object] = response.json()
        del body["success"]
        return body


def letterboxed_jpeg(path: Path) -> bytes:
    """Viseron's training preprocessing: cv2.imread, letterbox to a square, JPEG."""
    image = cv2.imread(str(path))
    assert image is not None, path
    side = max(image.shape[:2])
    square = np.zeros((side, side, 3), np.uint8)
    square[: image.shape[0], : image.shape[1]] = image
    return bytes(cv2.imencode(".jpg", square)[1].tobytes())


def test_viseron_training_then_recognition(fresh_server: LiveServer, images_dir: Path) -> None:
    """Viseron's CodeProjectAITrain.train: for each person folder, delete_face(person) (on a
    fresh gallery too), then per image detect, and register when exactly one face."""
    port = port_of(fresh_server)
    faces = ViseronFace(ip="127.0.0.1", port=port, timeout=60, min_confidence=0.6)
    training = {"obama": ["fr_obama1.jpg", "fr_obama4.jpg"], "biden": ["fr_biden1.jpg"]}
    for person, photos in training.items():
        faces.delete_face(person)  # answered 404 before: Viseron's training stopped here
        for photo in photos:
            jpeg = letterboxed_jpeg(images_dir / photo)
            if len(faces.detect(jpeg)) == 1:
                assert faces.register(person, jpeg) == "face added"
    assert sorted(faces.get_registered_faces()) == ["biden", "obama"]

    found = faces.recognize(letterboxed_jpeg(images_dir / "fr_obama2.jpg"))
    assert [p["userid"] for p in found] == ["obama"]

    # Viseron's object detector defaults to custom_model ipcam-general
    objects = cpai.CodeProjectAIObject(
        ip="127.0.0.1", port=port, timeout=60, min_confidence=0.4, custom_model="ipcam-general"
    )
    summary = cpai.get_objects_summary(objects.detect((images_dir / "ul_bus.jpg").read_bytes()))
    assert summary.get("bus", 0) >= 1 and summary.get("person", 0) >= 3, summary
    assert set(summary) <= {"person", "bicycle", "car", "motorcycle", "bus", "truck"}


def test_custom_list_with_catalog_models_not_pulled(fresh_server: LiveServer) -> None:
    """Regression: the catalog's models that are not pulled made this a 500 (KeyError 'task');
    Blue Iris asks for it at start-up."""
    status = requests.get(f"{fresh_server.url}/health/ready", timeout=30).json()["models"]
    assert "not pulled" in status.values()  # the situation that broke it
    response = requests.post(f"{fresh_server.url}/v1/vision/custom/list", timeout=30)
    assert response.status_code == 200, response.text
    models = response.json()["models"]
    assert models[0] == "yolox_nano" and "ipcam-general" in models
    assert not {name for name, state in status.items() if state != "ready"} & set(models)


def test_a_failed_register_is_deepstacks_400_with_its_reason(
    fresh_server: LiveServer, images_dir: Path
) -> None:
    """The policy (README): an image without a face is 400, as DeepStack answered it, with the
    reason in ``error``; the codeprojectai client raises on it as it would on any non-200."""
    cat = (images_dir / "chelsea.jpg").read_bytes()
    response = requests.post(
        f"{fresh_server.url}/v1/vision/face/register",
        data={"userid": "chelsea"},
        files={"image": cat},
        timeout=60,
    )
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False and body["code"] == 400 and "no face" in body["error"]
    faces = cpai.CodeProjectAIFace(ip="127.0.0.1", port=port_of(fresh_server), timeout=60)
    with pytest.raises(cpai.CodeProjectAIException, match="400"):
        faces.register("chelsea", cat)
    assert "chelsea" not in faces.get_registered_faces()


def test_deepstack_sdk_delete_face_of_an_unknown_user(fresh_server: LiveServer) -> None:
    """deepstack-sdk's deleteFace: data={"api_key": None, "userid": ...}; raises unless
    success."""
    response = requests.post(
        f"{fresh_server.url}/v1/vision/face/delete",
        data={"api_key": None, "userid": "never-registered"},
        timeout=30,
    )
    assert response.status_code == 200 and response.json()["success"] is True


def test_old_synoai_body_with_a_nameless_part(fresh_server: LiveServer, images_dir: Path) -> None:
    """SynoAI before Dec 2021: MultipartFormDataContent.Add(new StringContent(json)) with no
    name, beside the image part named "image"."""
    boundary = "8f1e2d3c-synoai"
    jpeg = (images_dir / "ul_bus.jpg").read_bytes()
    body = (
        (
            f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            'Content-Disposition: form-data\r\n\r\n{"min_confidence":0.45}\r\n'
            f"--{boundary}\r\nContent-Disposition: form-data; name=image; filename=image\r\n\r\n"
        ).encode()
        + jpeg
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = requests.post(
        f"{fresh_server.url}/v1/vision/detection",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert "bus" in {p["label"] for p in response.json()["predictions"]}


def test_frigate_never_gets_more_than_twenty(fresh_server: LiveServer, images_dir: Path) -> None:
    """Frigate's deepstack plugin writes predictions into a 20-row array (IndexError past
    it); with VISION_DEEPSTACK_MAX_PREDICTIONS=20 a crowded frame stays within it."""
    crowd = Image.open(images_dir / "ul_bus.jpg").convert("RGB")
    tiles = Image.new("RGB", (crowd.width * 3, crowd.height * 2))
    for i in range(6):
        tiles.paste(crowd, ((i % 3) * crowd.width, (i // 3) * crowd.height))
    with io.BytesIO() as out:
        tiles.save(out, format="JPEG")
        frame = out.getvalue()
    response = requests.post(
        f"{fresh_server.url}/v1/vision/detection",
        data={"api_key": "", "min_confidence": "0.1"},
        files={"image": frame},
        timeout=60,
    )
    predictions = response.json()["predictions"]
    assert len(predictions) == 20  # six buses' worth of people and buses, cut to the best 20
    confidences = [p["confidence"] for p in predictions]
    assert confidences == sorted(confidences, reverse=True)
