"""POST /stylize and GET /styles over fake style pipelines: parameters, answers, refusals."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from service.api.errors import InvalidParameterError
from service.api.routes.stylize import parse_style
from tests.unit.service.api.fakes import PROVIDER, FakeRegistry, encode
from tests.unit.service.api.style_fakes import FakeStyleTransfer, FakeStylizer

PROBLEM = "application/problem+json"
STAGES = ["decode", "preprocess", "inference", "postprocess", "encode", "total"]


@pytest.fixture
def stylizer() -> FakeStylizer:
    return FakeStylizer()


@pytest.fixture
def transfer() -> FakeStyleTransfer:
    return FakeStyleTransfer()


@pytest.fixture
def registry(stylizer: FakeStylizer, transfer: FakeStyleTransfer) -> FakeRegistry:
    """Overrides conftest's: ``client`` and ``make_client`` then serve the style fakes."""
    return FakeRegistry(stylizer, transfer)


def solid(colour: tuple[int, int, int], width: int = 8, height: int = 6) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def picture(response: Any) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))


def stylize(client: TestClient, *, files: dict[str, Any] | None = None, **params: Any) -> Any:
    files = files if files is not None else {"image": ("c.png", encode(40, 30))}
    return client.post("/stylize", params=params, files=files)


# -- answers ---------------------------------------------------------------------------------


def test_a_built_in_style_answers_a_jpeg_of_the_content_size(
    client: TestClient, stylizer: FakeStylizer
) -> None:
    response = stylize(client, style="1")

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    image = Image.open(io.BytesIO(response.content))
    assert (image.format, image.size) == ("JPEG", (40, 30))
    # Style 1 of the fake palette is pure green; JPEG keeps a flat colour within a few levels.
    assert np.abs(picture(response).astype(int) - [0, 255, 0]).max() <= 3
    stages = [part.split(";")[0] for part in response.headers["server-timing"].split(", ")]
    assert stages == STAGES
    assert response.headers["x-model-name"] == "fake-stylizer"
    assert response.headers["x-model-task"] == "stylize"
    assert response.headers["x-model-provider"] == PROVIDER
    assert stylizer.calls == [
        {"shape": (30, 40, 3), "weights": [0, 1, 0, 0], "strength": 1.0, "max_side": 1024}
    ]


def test_png_is_lossless_and_a_mix_is_normalised(
    client: TestClient, stylizer: FakeStylizer
) -> None:
    response = stylize(client, style="0:1, 2:3", format="png")

    assert response.headers["content-type"] == "image/png"
    assert stylizer.calls[0]["weights"] == [0.25, 0.0, 0.75, 0.0]
    # 0.25 * red + 0.75 * blue = (63.75, 0, 191.25), rounded by the fake.
    assert {tuple(p) for p in picture(response).reshape(-1, 3)} == {(64, 0, 191)}


def test_strength_and_max_side_reach_the_pipeline(
    make_client: Callable[..., TestClient], stylizer: FakeStylizer
) -> None:
    client = make_client(stylize_max_side=512)
    stylize(client, style="3")
    stylize(client, style="3", strength=0.25, max_side=300)

    assert [(c["strength"], c["max_side"]) for c in stylizer.calls] == [(1.0, 512), (0.25, 300)]


def test_a_style_image_uses_the_style_transfer_model(
    client: TestClient, transfer: FakeStyleTransfer
) -> None:
    files = {"image": ("c.png", encode(40, 30)), "style_image": ("s.png", solid((10, 200, 30)))}
    response = stylize(client, files=files, strength=0.5, format="png")

    assert response.status_code == 200
    assert response.headers["x-model-name"] == "fake-transfer"
    assert {tuple(p) for p in picture(response).reshape(-1, 3)} == {(10, 200, 30)}
    assert transfer.calls == [
        {"shape": (30, 40, 3), "style_shape": (6, 8, 3), "strength": 0.5, "max_side": 1024}
    ]


def test_json_bodies_carry_both_images(client: TestClient, transfer: FakeStyleTransfer) -> None:
    body = {
        "image": base64.b64encode(encode(12, 10)).decode(),
        "style_image": "data:image/png;base64," + base64.b64encode(solid((1, 2, 3))).decode(),
    }
    response = client.post("/stylize", json=body)

    assert response.status_code == 200
    assert transfer.calls[0]["shape"] == (10, 12, 3)


def test_styles_lists_every_style_with_a_jpeg_preview(client: TestClient) -> None:
    response = client.get("/styles")

    assert response.status_code == 200
    body = response.json()
    assert body["model"] == {"name": "fake-stylizer", "task": "stylize", "provider": PROVIDER}
    assert [s["index"] for s in body["styles"]] == [0, 1, 2, 3]
    prefix = "data:image/jpeg;base64,"
    first = body["styles"][0]["preview"]
    assert first.startswith(prefix)
    preview = Image.open(io.BytesIO(base64.b64decode(first[len(prefix) :])))
    assert (preview.format, preview.size) == ("JPEG", (16, 16))


# -- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        ("4", "style 4 is outside 0..3"),
        ("-1", "'-1' is not INDEX or INDEX:WEIGHT"),
        ("blue", "'blue' is not INDEX or INDEX:WEIGHT"),
        ("1,,2", "an empty entry"),
        ("1,1:2", "style 1 is given twice"),
        ("0:0,1:0", "the weights must sum to a positive number (they sum to 0)"),
        ("0:-1,1:2", "weight '-1' of style 0 is not a number >= 0"),
        ("0:nan", "weight 'nan' of style 0 is not a number >= 0"),
        ("0:inf", "weight 'inf' of style 0 is not a number >= 0"),
        ("0:1e308,1:1e308", "the weights must sum to a positive number (they sum to inf)"),
        ("0:", "weight '' of style 0 is not a number >= 0"),
    ],
)
def test_bad_styles_are_422_naming_the_problem(
    client: TestClient, stylizer: FakeStylizer, style: str, expected: str
) -> None:
    response = stylize(client, style=style)

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["errors"] == [{"in": "query", "name": "style", "detail": expected}]
    assert "this model has 4 styles, 0..3" in body["detail"]
    assert stylizer.calls == []


def test_max_side_over_the_setting_is_422(
    make_client: Callable[..., TestClient], stylizer: FakeStylizer
) -> None:
    client = make_client(stylize_max_side=512)
    response = stylize(client, style="0", max_side=513)

    assert response.status_code == 422
    body = response.json()
    assert body["detail"] == (
        "max_side: 513 is over this service's limit of 512 (VISION_STYLIZE_MAX_SIDE)"
    )
    assert body["errors"][0]["name"] == "max_side"
    assert stylizer.calls == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("max_side", "31"),
        ("max_side", "10" * 20),
        ("max_side", "big"),
        ("strength", "-0.1"),
        ("strength", "1.5"),
        ("strength", "nan"),
        ("format", "gif"),
    ],
)
def test_out_of_range_parameters_are_422(
    client: TestClient, stylizer: FakeStylizer, name: str, value: str
) -> None:
    response = stylize(client, style="0", **{name: value})  # type: ignore[arg-type]

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["errors"][0]["name"] == name
    assert stylizer.calls == []


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (b"GIF89a but not really", "style_image: not"),
        (b"", "style_image: the upload is empty"),
    ],
)
def test_a_style_image_that_does_not_decode_is_422(
    client: TestClient, transfer: FakeStyleTransfer, data: bytes, detail: str
) -> None:
    files = {"image": ("c.png", encode()), "style_image": ("s.png", data)}
    response = stylize(client, files=files)

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == "urn:vision-service:problem:undecodable-image"
    assert body["detail"].startswith(detail)
    assert transfer.calls == []


def test_neither_style_nor_style_image_is_400_saying_both_ways(client: TestClient) -> None:
    response = stylize(client)

    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == (
        "field 'style_image' is missing, and so is the query parameter style: send a style "
        "picture as 'style_image', or pick a built-in style with style=INDEX (see GET /styles)"
    )
    assert body["errors"][0]["name"] == "style_image"


@pytest.mark.parametrize("as_json", [False, True])
def test_style_and_style_image_together_are_422(
    client: TestClient, stylizer: FakeStylizer, transfer: FakeStyleTransfer, as_json: bool
) -> None:
    if as_json:
        b64 = base64.b64encode(encode()).decode()
        response = client.post(
            "/stylize", params={"style": "1"}, json={"image": b64, "style_image": b64}
        )
    else:
        files = {"image": ("c.png", encode()), "style_image": ("s.png", encode())}
        response = stylize(client, files=files, style="1")

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "in": "body",
            "name": "style_image",
            "detail": "cannot be sent with the query parameter style: send one of the two",
        }
    ]
    assert stylizer.calls == transfer.calls == []


def test_a_model_of_the_other_style_task_is_404(client: TestClient) -> None:
    response = stylize(client, style="0", model="fake-transfer")

    assert response.status_code == 404
    assert "fake-stylizer" in response.json()["detail"]


# -- parse_style directly --------------------------------------------------------------------


def test_parse_style_accepts_spaces_and_zero_weights_beside_positive_ones() -> None:
    weights = parse_style(" 2 : 1 , 0:0 ", 3)
    assert weights.dtype == np.float32
    assert weights.tolist() == [0.0, 0.0, 1.0]


def test_parse_style_reports_every_problem_at_once() -> None:
    with pytest.raises(InvalidParameterError) as caught:
        parse_style("9,x", 3)
    (problem,) = caught.value.errors
    assert problem.detail == "style 9 is outside 0..2; 'x' is not INDEX or INDEX:WEIGHT"
