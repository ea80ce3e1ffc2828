"""The CompreFace API end to end, driven by its real clients against a real uvicorn:
``compreface-sdk`` (PyPI, in a throwaway venv with ``urllib3<2`` as it requires) and Double
Take's own CompreFace detector code (``clients/double_take``, run under Node with the axios
and form-data it pins). Who is in which photo comes from shared/images/README.md.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import LiveServer, StartServer

KEY = "e2e-compreface-key"
CLIENTS = Path(__file__).parent / "clients"
SDK_REQUIREMENTS = ("compreface-sdk==0.6.0", "urllib3<2")
DOUBLE_TAKE_MATCH, DOUBLE_TAKE_UNKNOWN = 60, 40  # Double Take's default confidences (%)


@pytest.fixture(scope="module")
def compreface_server(
    start_server: StartServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    gallery = tmp_path_factory.mktemp("compreface") / "gallery.sqlite3"
    with start_server(
        VISION_GALLERY_PATH=str(gallery), VISION_API_KEY=KEY, VISION_GALLERY_KEEP_CROPS="true"
    ) as server:
        yield server


@pytest.fixture(scope="module")
def sdk_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv of its own holding compreface-sdk and the urllib3 it needs."""
    venv = tmp_path_factory.mktemp("compreface-sdk-venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    install = [str(python), "-m", "pip", "install", "-q", *SDK_REQUIREMENTS]
    result = subprocess.run(install, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return python


@pytest.fixture(scope="module")
def double_take(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Double Take's detector files with their pinned npm dependencies installed."""
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "node and npm are needed (.ci/run installs Debian's nodejs and npm)"
    folder = tmp_path_factory.mktemp("double-take") / "harness"
    shutil.copytree(CLIENTS / "double_take", folder)
    install = [npm, "install", "--no-audit", "--no-fund", "--silent"]
    result = subprocess.run(install, cwd=folder, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return folder


def api(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"x-api-key": KEY}, timeout=60)


def test_compreface_sdk_recognition_detection_verification(
    compreface_server: LiveServer, sdk_python: Path, images_dir: Path
) -> None:
    host, port = compreface_server.url.rsplit(":", 1)
    driver = [str(sdk_python), str(CLIENTS / "compreface_sdk_drive.py")]
    result = subprocess.run(
        [*driver, host, port, KEY, str(images_dir)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out: dict[str, Any] = json.loads(result.stdout)

    assert out["add_subject"] == {"subject": "Joe Biden"}
    assert out["add_obama"]["subject"] == "Barack Obama"
    assert out["add_biden"]["subject"] == "Joe Biden"
    assert out["add_no_face"]["code"] == 28  # chelsea.jpg is a cat
    listed = {(f["image_id"], f["subject"]) for f in out["list"]["faces"]}
    assert listed == {
        (out["add_obama"]["image_id"], "Barack Obama"),
        (out["add_biden"]["image_id"], "Joe Biden"),
    }
    assert out["list"]["total_elements"] == 2 and out["list"]["page_size"] == 20
    assert out["subjects"] == {"subjects": ["Barack Obama", "Joe Biden"]}

    for key, person, other in (
        ("recognize_obama", "Barack Obama", "Joe Biden"),
        ("recognize_biden", "Joe Biden", "Barack Obama"),
    ):
        (face,) = out[key]["result"]
        assert [s["subject"] for s in face["subjects"]] == [person, other]  # best first
        best, second = (s["similarity"] for s in face["subjects"])
        assert best >= 0.6 > 0.4 > second  # Double Take's default match / unknown levels
        assert len(face["landmarks"]) == 5  # face_plugins=landmarks
        box = face["box"]
        assert 0.8 <= box["probability"] <= 1 and box["x_min"] < box["x_max"]

    assert len(out["detect"]["result"]) >= 2  # Obama and Biden, at least
    (verification,) = out["verify"]["result"]
    similarities = [m["similarity"] for m in verification["face_matches"]]
    assert similarities == sorted(similarities, reverse=True)
    assert similarities[0] >= 0.6 > similarities[-1]  # Obama is in the group photo

    assert out["delete_obama"] == out["add_obama"]
    assert out["delete_biden"] == {"deleted": 1}
    assert out["list_after"]["faces"] == []


def test_double_take_compreface_detector(
    compreface_server: LiveServer, double_take: Path, images_dir: Path
) -> None:
    plan = {
        "train": [["Rose Leslie", str(images_dir / "fr_rose_leslie1.jpg")]],
        "recognize": [
            str(images_dir / name)
            for name in ("fr_rose_leslie2.jpg", "chelsea.jpg", "fr_kit_harington1.jpg")
        ],
    }
    env = {**os.environ, "COMPREFACE_URL": compreface_server.url, "COMPREFACE_KEY": KEY}
    result = subprocess.run(
        ["node", "drive.js", json.dumps(plan)],
        cwd=double_take,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout)
    assert out["train"][0]["status"] == 201

    match, no_face, stranger = (r["normalized"] for r in out["recognize"])
    (rose,) = match
    assert rose["name"] == "rose leslie" and rose["match"] is True
    assert rose["confidence"] >= DOUBLE_TAKE_MATCH
    assert out["recognize"][1]["data"]["code"] == 28 and no_face == []  # the cat: no face
    (unknown,) = stranger
    assert unknown["name"] == "unknown" and unknown["match"] is False
    assert unknown["confidence"] < DOUBLE_TAKE_UNKNOWN
    assert out["remove"] == {"status": 200, "data": {"deleted": 1}}


def test_recognize_answers_the_nearest_while_recognize_face_stays_honest(
    compreface_server: LiveServer, images_dir: Path
) -> None:
    """CompreFace's recognize names the nearest subject at any similarity; our own
    /recognize-face keeps ``subject: null`` for the same stranger."""
    stranger = (images_dir / "fr_kit_harington2.jpg").read_bytes()
    with api(compreface_server) as client:
        added = client.post(
            "/api/v1/recognition/faces",
            params={"subject": "Eileen Collins"},
            files={"file": (images_dir / "astronaut.jpg").read_bytes()},
        )
        assert added.status_code == 201, added.text
        try:
            nearest = client.post("/api/v1/recognition/recognize", files={"file": stranger})
            ours = client.post("/recognize-face", files={"image": stranger})
        finally:
            client.delete("/api/v1/recognition/faces", params={"subject": "Eileen Collins"})
    (face,) = nearest.json()["result"]
    assert [s["subject"] for s in face["subjects"]] == ["Eileen Collins"]
    assert face["subjects"][0]["similarity"] < 0.5  # below the calibrated threshold
    (honest,) = ours.json()["faces"]
    assert honest["subject"] is None and honest["similarity"] is not None


def test_example_image_and_errors(compreface_server: LiveServer, images_dir: Path) -> None:
    with api(compreface_server) as client:
        added = client.post(
            "/api/v1/recognition/faces",
            params={"subject": "Barack Obama", "det_prob_threshold": "0.8"},
            json={"file": _b64(images_dir / "fr_obama3.jpg")},
        ).json()
        image = client.get(f"/api/v1/recognition/faces/{added['image_id']}/img")
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
        assert image.content.startswith(b"\x89PNG")
        renamed = client.put(
            "/api/v1/recognition/subjects/Barack Obama", json={"subject": "Barack H. Obama"}
        )
        assert renamed.json() == {"updated": True}
        by_ids = client.post("/api/v1/recognition/faces/delete", json=[added["image_id"], "x"])
        assert by_ids.json() == [{"image_id": added["image_id"], "subject": "Barack H. Obama"}]
        gone = client.get(f"/api/v1/recognition/faces/{added['image_id']}/img")
        assert (gone.status_code, gone.json()["code"]) == (404, 11)
        assert client.delete("/api/v1/recognition/subjects/nobody").json()["code"] == 42
        bad = client.get("/api/v1/recognition/faces", params={"size": "0"})
        assert bad.status_code == 400 and set(bad.json()) == {"message", "code"}
    keyless = httpx.get(f"{compreface_server.url}/api/v1/recognition/subjects", timeout=30)
    assert keyless.status_code == 401 and set(keyless.json()) == {"message", "code"}


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()
