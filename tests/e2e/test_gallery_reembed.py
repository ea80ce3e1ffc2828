"""``python -m service gallery reembed`` end to end: a gallery enrolled with SFace (crops
kept) moved to MobileFaceNet by the CLI, then recognised by a restarted server; a gallery
without crops is refused, unchanged, saying why."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO_ROOT
from tests.e2e.conftest import (
    StartServer,
    clean_environment,
    pull_default_models,
    server_starter,
)

NEW_EMBEDDER = "mobilefacenet_128d"


@pytest.fixture(scope="module")
def two_embedders(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default models (SFace, YuNet, ...) and MobileFaceNet, pulled by the CLI."""
    target = tmp_path_factory.mktemp("reembed-models")
    pull_default_models(target, models_dir)
    pull_default_models(target, models_dir, NEW_EMBEDDER)
    return target


@pytest.fixture(scope="module")
def start(two_embedders: Path, tmp_path_factory: pytest.TempPathFactory) -> StartServer:
    return server_starter(two_embedders, tmp_path_factory)


def enrol(start: StartServer, gallery: Path, images: Path, keep_crops: bool) -> None:
    crops = "true" if keep_crops else "false"
    with (
        start(VISION_GALLERY_PATH=str(gallery), VISION_GALLERY_KEEP_CROPS=crops) as server,
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        for subject, photo in (("Barack Obama", "fr_obama1.jpg"), ("Joe Biden", "fr_biden1.jpg")):
            answer = client.post(
                "/faces", data={"subject": subject}, files={"image": (images / photo).read_bytes()}
            )
            assert answer.status_code == 201, answer.text


def reembed(gallery: Path, models: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "service", "gallery", "reembed", NEW_EMBEDDER]
    return subprocess.run(
        [*command, "--gallery", str(gallery), "--models-dir", str(models)],
        cwd=REPO_ROOT,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_reembed_moves_a_gallery_of_crops_to_mobilefacenet(
    start: StartServer, two_embedders: Path, images_dir: Path, tmp_path: Path
) -> None:
    gallery = tmp_path / "gallery.sqlite3"
    enrol(start, gallery, images_dir, keep_crops=True)

    moved = reembed(gallery, two_embedders)
    assert moved.returncode == 0, moved.stderr
    assert "2 face(s)" in moved.stderr

    with (
        start(VISION_GALLERY_PATH=str(gallery)) as server,
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        listed = client.get("/faces").json()["subjects"]
        assert {face["model"] for s in listed for face in s["faces"]} == {NEW_EMBEDDER}
        for photo, person in (("fr_obama2.jpg", "Barack Obama"), ("fr_biden2.jpg", "Joe Biden")):
            answer = client.post(
                "/recognize-face",
                params={"model": NEW_EMBEDDER},
                files={"image": (images_dir / photo).read_bytes()},
            ).json()
            assert answer["model"]["name"] == NEW_EMBEDDER
            assert answer["faces"][0]["subject"] == person, answer["faces"][0]


def test_reembed_without_crops_refuses_and_changes_nothing(
    start: StartServer, two_embedders: Path, images_dir: Path, tmp_path: Path
) -> None:
    gallery = tmp_path / "gallery.sqlite3"
    enrol(start, gallery, images_dir, keep_crops=False)
    before = rows(gallery)

    refused = reembed(gallery, two_embedders)
    assert refused.returncode == 1
    assert "2 of 2 faces have no stored crop" in refused.stderr
    assert "VISION_GALLERY_KEEP_CROPS" in refused.stderr
    assert rows(gallery) == before


def rows(gallery: Path) -> list[tuple[object, ...]]:
    """Every stored face, embedding and embedder included."""
    with closing(sqlite3.connect(gallery)) as db:
        return db.execute("SELECT face_id, subject, model, embedding FROM faces").fetchall()
