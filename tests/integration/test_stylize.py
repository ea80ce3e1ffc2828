"""POST /stylize and GET /styles on the real style models and photos, through the HTTP layer.

What "keeps its structure" means here: the grey-level edges of the answer correlate with the
content's at the content's own scale (both blurred by a 2-px Gaussian first, so brush strokes a
few pixels wide do not count as structure). The measure is checked to discriminate: the content
turned upside down scores near 0 against itself.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from numpy.typing import NDArray
from PIL import Image, ImageFilter

from service.api import create_app
from service.pipelines.registry import ModelRegistry
from service.repository import load_catalog, pull
from service.repository.catalog import bundled_catalog_path
from service.settings import Settings

STYLE_MODELS = ["multistyle26", "arbitrary_predict", "arbitrary_transform"]


@pytest.fixture(scope="module")
def client(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    repo = tmp_path_factory.mktemp("style-models")
    pull(load_catalog(bundled_catalog_path()), STYLE_MODELS, repo, source=str(models_dir))
    settings = Settings(models_dir=repo, providers=["CPUExecutionProvider"], api_key=None)
    registry = ModelRegistry(settings)
    registry.load_all()
    assert registry.status() == dict.fromkeys(STYLE_MODELS, "ready")
    with TestClient(create_app(settings, registry)) as started:
        yield started


@pytest.fixture(scope="module")
def chelsea(images_dir: Path) -> bytes:
    return (images_dir / "chelsea.jpg").read_bytes()


@pytest.fixture(scope="module")
def coffee(images_dir: Path) -> bytes:
    return (images_dir / "coffee.jpg").read_bytes()


def as_array(data: bytes) -> NDArray[np.uint8]:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def stylized(client: TestClient, files: dict[str, Any], **params: Any) -> NDArray[np.uint8]:
    """The answer as pixels (PNG, so no JPEG loss enters the measures)."""
    response = client.post("/stylize", params={"format": "png", **params}, files=files)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return as_array(response.content)


def mean_abs_diff(a: NDArray[np.uint8], b: NDArray[np.uint8]) -> float:
    """On the 0..1 scale."""
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean() / 255.0)


def edge_correlation(a: NDArray[np.uint8], b: NDArray[np.uint8]) -> float:
    """Pearson correlation of the grey-level gradient magnitudes, after a 2-px Gaussian blur."""

    def edges(pixels: NDArray[np.uint8]) -> NDArray[np.float64]:
        grey = Image.fromarray(pixels).convert("L").filter(ImageFilter.GaussianBlur(2))
        dy, dx = np.gradient(np.asarray(grey, dtype=np.float64))
        magnitude: NDArray[np.float64] = np.hypot(dx, dy).ravel()
        return magnitude

    return float(np.corrcoef(edges(a), edges(b))[0, 1])


def test_the_structure_measure_tells_a_picture_from_another(chelsea: bytes) -> None:
    content = as_array(chelsea)
    assert edge_correlation(content, content) == pytest.approx(1.0)
    assert edge_correlation(content[::-1, ::-1].copy(), content) < 0.2


@pytest.mark.parametrize("style", ["7", "19", "coffee.jpg"])
def test_a_style_repaints_chelsea_and_keeps_her(
    client: TestClient, chelsea: bytes, images_dir: Path, style: str
) -> None:
    content = as_array(chelsea)
    files = {"image": ("chelsea.jpg", chelsea)}
    if style.endswith(".jpg"):  # a style picture, for the arbitrary pair
        files["style_image"] = (style, (images_dir / style).read_bytes())
        out = stylized(client, files)
    else:
        out = stylized(client, files, style=style)
    assert out.shape == content.shape == (300, 451, 3)
    assert mean_abs_diff(out, content) > 0.05
    assert edge_correlation(out, content) > 0.5


def test_strength_zero_gives_nearly_the_content(
    client: TestClient, chelsea: bytes, coffee: bytes
) -> None:
    content = as_array(chelsea)
    files = {"image": ("chelsea.jpg", chelsea), "style_image": ("coffee.jpg", coffee)}
    full = mean_abs_diff(stylized(client, files), content)
    # The content's own style vector: a near-reconstruction by the network (MANIFEST: 0.060).
    own = stylized(client, files, strength=0)
    assert mean_abs_diff(own, content) < 0.08 < full
    assert edge_correlation(own, content) > 0.85
    # Built-in styles have no content vector: strength 0 is the content itself.
    untouched = stylized(client, {"image": ("chelsea.jpg", chelsea)}, style="7", strength=0)
    assert np.array_equal(untouched, content)


def test_different_styles_differ_and_a_mix_lies_between(client: TestClient, chelsea: bytes) -> None:
    files = {"image": ("chelsea.jpg", chelsea)}
    seven = stylized(client, files, style="7")
    nineteen = stylized(client, files, style="19")
    mix = stylized(client, files, style="7:0.5,19:0.5")
    apart = mean_abs_diff(seven, nineteen)
    assert apart > 0.05
    to_seven, to_nineteen = mean_abs_diff(mix, seven), mean_abs_diff(mix, nineteen)
    assert max(to_seven, to_nineteen) < apart
    # Closer to the two styles' midpoint than to either style alone.
    midpoint = ((seven.astype(np.float64) + nineteen) / 2).round().astype(np.uint8)
    assert mean_abs_diff(mix, midpoint) < min(to_seven, to_nineteen)


def test_max_side_shrinks_a_large_content(client: TestClient, images_dir: Path) -> None:
    data = (images_dir / "ul_bus.jpg").read_bytes()
    height, width = as_array(data).shape[:2]
    response = client.post(
        "/stylize", params={"style": "3", "max_side": 256}, files={"image": ("b.jpg", data)}
    )
    assert response.headers["content-type"] == "image/jpeg"
    image = Image.open(io.BytesIO(response.content))
    assert max(image.size) == 256
    assert image.size == (round(width * 256 / max(height, width)), 256)


@pytest.mark.parametrize(
    ("params", "files_extra", "status", "name"),
    [
        ({"style": "26"}, {}, 422, "style"),
        ({"style": "7:0,19:0"}, {}, 422, "style"),
        ({"style": "7", "max_side": 100_000}, {}, 422, "max_side"),
        ({}, {"style_image": ("s.jpg", b"\xff\xd8\xff\xe0 truncated jpeg")}, 422, None),
    ],
)
def test_bad_inputs_are_4xx_problems(
    client: TestClient,
    chelsea: bytes,
    params: dict[str, Any],
    files_extra: dict[str, Any],
    status: int,
    name: str | None,
) -> None:
    files = {"image": ("chelsea.jpg", chelsea), **files_extra}
    response = client.post("/stylize", params=params, files=files)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    if name is None:
        assert body["detail"].startswith("style_image: ")
    else:
        assert body["errors"][0]["name"] == name


def test_styles_lists_26_distinct_previews(client: TestClient) -> None:
    body = client.get("/styles").json()
    assert body["model"]["name"] == "multistyle26"
    assert [s["index"] for s in body["styles"]] == list(range(26))
    assert len({s["preview"] for s in body["styles"]}) == 26
    assert client.get("/styles").json() == body  # cached, so the same bytes again
