"""Awkward uploads against the live service: 200 for valid oddities, the right 4xx as
application/problem+json with a ``detail`` for everything else, never a 5xx."""

from __future__ import annotations

import io
import time
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.e2e.conftest import LiveServer
from tests.e2e.corpus import (
    FACE_UPLOADS,
    UPLOADS,
    Upload,
    animated_gif,
    encode,
    gif_claiming,
    picture,
)

PROBLEM = "application/problem+json"


def send(client: httpx.Client, upload: Upload) -> httpx.Response:
    return client.request(upload.method, upload.route, **upload.build())


def test_the_corpus_is_big_enough_and_its_ids_unique() -> None:
    ids = [upload.id for upload in UPLOADS]
    assert len(ids) == len(set(ids))
    assert sum(upload.status == 200 for upload in UPLOADS) >= 15
    assert sum(400 <= upload.status < 500 for upload in UPLOADS) >= 30


@pytest.mark.parametrize(
    "upload", UPLOADS + FACE_UPLOADS, ids=[upload.id for upload in UPLOADS + FACE_UPLOADS]
)
def test_awkward_upload_is_answered_as_it_deserves(client: httpx.Client, upload: Upload) -> None:
    response = send(client, upload)

    assert response.status_code < 500, response.text
    assert response.status_code == upload.status, response.text
    if upload.status == 200:
        check_answer(upload, response.json())
        return
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == upload.status
    assert isinstance(problem["title"], str) and problem["title"]
    assert isinstance(problem["detail"], str) and problem["detail"]
    if upload.problem is not None:
        assert problem["type"].endswith(f":{upload.problem}"), problem


def check_answer(upload: Upload, answer: dict[str, Any]) -> None:
    if upload.route.startswith("/recognize-face"):
        assert answer["faces"] == []  # synthetic pictures, no face in them
        return
    if upload.route.startswith("/classify"):
        assert len(answer["predictions"]) == 5
        assert all(0 <= p["score"] <= 1 for p in answer["predictions"])
        return
    assert upload.size is not None
    width, height = upload.size
    assert answer["image"] == {"width": width, "height": height}
    for detection in answer["detections"]:
        box = detection["box"]
        assert 0 <= box["x1"] <= box["x2"] <= width
        assert 0 <= box["y1"] <= box["y2"] <= height


def test_gif_bomb_is_refused_from_its_header_fast_and_without_allocating(
    client: httpx.Client, live_server: LiveServer
) -> None:
    bomb = gif_claiming(30000, 30000)  # 2.7 GB of RGB if decoded
    answers: list[httpx.Response] = []
    started = time.perf_counter()

    growth = live_server.peak_rss_growth(
        lambda: answers.append(client.post("/detect", files={"image": ("b.gif", bomb)}))
    )

    assert time.perf_counter() - started < 2.0
    assert answers[0].status_code == 422
    assert answers[0].json()["type"].endswith(":image-too-large")
    assert "30000x30000" in answers[0].json()["detail"]
    assert growth < 64 * 1024 * 1024, f"peak memory rose by {growth / 1e6:.0f} MB"


def test_animated_gif_is_read_from_its_first_frame(client: httpx.Client) -> None:
    response = client.post(
        "/detect", params={"format": "image"}, files={"image": ("a.gif", animated_gif())}
    )

    assert response.status_code == 200
    drawn = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"), dtype=float)
    red, green, blue = drawn.reshape(-1, 3).mean(axis=0)
    assert red > 180 and blue < 60, (red, green, blue)  # frame 1 is red, frame 2 blue


def test_a_very_wide_image_is_classified_without_blowing_up_memory(
    client: httpx.Client, live_server: LiveServer
) -> None:
    # 3000x1: resizing the short side to the classifier's 256 px before cropping would make a
    # 768000x256 picture (590 MB of RGB) to cut a 224x224 crop out of.
    strip = encode(picture(3000, 1), "PNG")
    answers: list[httpx.Response] = []

    growth = live_server.peak_rss_growth(
        lambda: answers.append(client.post("/classify", files={"image": ("s.png", strip)}))
    )

    assert answers[0].status_code == 200, answers[0].text
    assert growth < 128 * 1024 * 1024, f"peak memory rose by {growth / 1e6:.0f} MB"
