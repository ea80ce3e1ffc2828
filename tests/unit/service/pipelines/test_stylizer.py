"""Style pipelines over recording fakes and tiny ONNX graphs, with answers computed by hand."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from onnx import helper, numpy_helper

from service.pipelines.registry import ModelRegistry
from service.pipelines.style_transfer import StyleTransfer
from service.pipelines.stylizer import (
    PREVIEW_SIDE,
    Stylizer,
    fit_within,
    padded_size,
    reflect_pad,
)
from service.repository.metadata import ModelSignature, TensorInfo
from service.repository.spec import resolve_spec
from service.settings import Settings
from tests.onnx_graphs import build, save, tensor
from tests.unit.service.repository.test_style import config

# Four built-in styles of the tiny graph, each a flat colour (0..1).
COLOURS = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]], dtype=np.float32)
STYLIZE_TOML = """task = "stylize"
[input]
size = [40, 40]
scale = 0.00392156862745098
[style]
multiple = 4
min_side = 32
"""


class InvertingRunner:
    """``1 - image`` (any size), recording every input shape and style-weights vector."""

    providers_requested: Sequence[str] = ("CPUExecutionProvider",)
    providers_used: Sequence[str] = ("CPUExecutionProvider",)

    def __init__(self) -> None:
        self.seen: list[tuple[tuple[int, ...], list[float]]] = []

    def run(self, inputs: NDArray[Any] | Mapping[str, NDArray[Any]]) -> list[NDArray[Any]]:
        assert isinstance(inputs, Mapping), "a stylizer feeds its inputs by name"
        image, weights = inputs["image"], inputs["style_weights"]
        self.seen.append((image.shape, weights.tolist()))
        return [1.0 - image]


def stylizer_over(runner: InvertingRunner) -> Stylizer:
    sig = ModelSignature(
        inputs=(
            TensorInfo("image", (1, 3, "h", "w"), "tensor(float)"),
            TensorInfo("style_weights", (4,), "tensor(float)"),
        ),
        outputs=(TensorInfo("stylized", (1, 3, "h", "w"), "tensor(float)"),),
    )
    return Stylizer("inverter", resolve_spec(config(STYLIZE_TOML), sig, None), runner)


def gradient(height: int, width: int) -> NDArray[np.uint8]:
    values = np.arange(height * width * 3) % 256
    return values.reshape(height, width, 3).astype(np.uint8)


# -- geometry by hand ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hw", "max_side", "expected"),
    [
        ((300, 451), 1024, (300, 451)),  # never enlarged
        ((2000, 1000), 1024, (1024, 512)),
        ((1000, 3000), 600, (200, 600)),
        ((1, 5000), 1000, (1, 1000)),  # a thin strip keeps one pixel
    ],
)
def test_fit_within(hw: tuple[int, int], max_side: int, expected: tuple[int, int]) -> None:
    assert fit_within(hw, max_side) == expected


@pytest.mark.parametrize(
    ("hw", "expected"), [((300, 451), (300, 452)), ((10, 33), (32, 36)), ((32, 64), (32, 64))]
)
def test_padded_size_rounds_up_to_the_multiple_and_min_side(
    hw: tuple[int, int], expected: tuple[int, int]
) -> None:
    assert padded_size(hw, 4, 32) == expected


def test_reflect_pad_mirrors_past_the_bottom_right_edges() -> None:
    row = np.array([[[1], [2], [3]]], dtype=np.uint8).repeat(3, axis=2)  # 1 x 3
    two_rows = np.concatenate([row, row + 10])  # 2 x 3
    padded = reflect_pad(two_rows, (3, 5))
    assert padded[..., 0].tolist() == [[1, 2, 3, 2, 1], [11, 12, 13, 12, 11], [1, 2, 3, 2, 1]]
    # A one-pixel line has no mirror image: it is repeated.
    assert reflect_pad(row[:, :1], (1, 3))[..., 0].tolist() == [[1, 1, 1]]


# -- the Stylizer's flow ---------------------------------------------------------------------


def test_odd_sizes_run_padded_and_come_back_at_the_content_size() -> None:
    runner = InvertingRunner()
    content = gradient(37, 53)
    weights = np.array([0, 0, 1, 0], dtype=np.float32)
    result = stylizer_over(runner).run(content, weights=weights)

    assert runner.seen == [((1, 3, 40, 56), [0.0, 0.0, 1.0, 0.0])]
    assert result.pixels.shape == (37, 53, 3)
    # The fake inverts: 1 - p/255, back to 0..255, is 255 - p exactly.
    assert np.array_equal(result.pixels, 255 - content)
    assert result.model.name == "inverter"


def test_max_side_shrinks_the_answer() -> None:
    result = stylizer_over(InvertingRunner()).run(
        gradient(200, 100), weights=np.eye(4, dtype=np.float32)[0], max_side=50
    )
    assert result.pixels.shape == (50, 25, 3)


def test_strength_mixes_with_the_content_and_zero_skips_the_network() -> None:
    runner = InvertingRunner()
    stylizer = stylizer_over(runner)
    content = gradient(8, 8)
    weights = np.eye(4, dtype=np.float32)[1]
    quarter = stylizer.run(content, weights=weights, strength=0.25)
    # 0.25 * (255 - p) + 0.75 * p = 63.75 + p / 2: never a tie, so rounding is exact.
    expected = np.floor(63.75 + content.astype(np.float64) / 2 + 0.5)
    assert np.array_equal(quarter.pixels, expected.astype(np.uint8))
    untouched = stylizer.run(content, weights=weights, strength=0.0)
    assert np.array_equal(untouched.pixels, content)
    assert len(runner.seen) == 1


# -- tiny ONNX graphs through the registry ---------------------------------------------------


def palette_stylizer(path: Path) -> None:
    """stylized = image * 0 + (style_weights @ COLOURS), a flat colour at the image's size."""
    nodes = [
        helper.make_node("Unsqueeze", ["style_weights", "axis0"], ["row"]),
        helper.make_node("MatMul", ["row", "colours"], ["colour"]),
        helper.make_node("Reshape", ["colour", "nchw"], ["colour4"]),
        helper.make_node("Mul", ["image", "zero"], ["blank"]),
        helper.make_node("Add", ["blank", "colour4"], ["stylized"]),
    ]
    initializers = [
        numpy_helper.from_array(np.array([0], dtype=np.int64), "axis0"),
        numpy_helper.from_array(COLOURS, "colours"),
        numpy_helper.from_array(np.array([1, 3, 1, 1], dtype=np.int64), "nchw"),
        numpy_helper.from_array(np.array(0, dtype=np.float32), "zero"),
    ]
    save(
        build(
            nodes,
            [tensor("image", (1, 3, "h", "w")), tensor("style_weights", (4,))],
            [tensor("stylized", (1, 3, "h", "w"))],
            initializers=initializers,
        ),
        path,
    )


def mean_colour_predictor(path: Path) -> None:
    """The style vector is the picture's mean colour: [1, 1, 1, 3]."""
    node = helper.make_node("ReduceMean", ["style_image"], ["vector"], axes=[1, 2], keepdims=1)
    save(
        build([node], [tensor("style_image", (1, 8, 8, 3))], [tensor("vector", (1, 1, 1, 3))]),
        path,
    )


def flat_painter(path: Path) -> None:
    """The picture painted flat in the vector's colour: content * 0 + vector."""
    nodes = [
        helper.make_node("Mul", ["content_image", "zero"], ["blank"]),
        helper.make_node("Add", ["blank", "vector"], ["painted"]),
    ]
    save(
        build(
            nodes,
            [tensor("content_image", (1, 16, 16, 3)), tensor("vector", (1, 1, 1, 3))],
            [tensor("painted", (1, 16, 16, 3))],
            initializers=[numpy_helper.from_array(np.array(0, dtype=np.float32), "zero")],
        ),
        path,
    )


PREDICT_TOML = """task = "style-predict"
[input]
resize = "crop"
scale = 0.00392156862745098
"""
TRANSFER_TOML = """task = "style-transfer"
[input]
resize = "letterbox"
placement = "top-left"
scale = 0.00392156862745098
[style]
predictor = "{predictor}"
"""


def add_model(root: Path, name: str, make: Any, toml: str) -> None:
    make(root / name / "model.onnx")
    (root / name / "model.toml").write_text(toml)


def loaded(root: Path) -> ModelRegistry:
    registry = ModelRegistry(Settings(models_dir=root, providers=["CPUExecutionProvider"]))
    registry.load_all()
    return registry


def test_a_stylize_model_loads_mixes_styles_and_makes_previews(tmp_path: Path) -> None:
    add_model(tmp_path, "palette", palette_stylizer, STYLIZE_TOML)
    registry = loaded(tmp_path)
    assert registry.status() == {"palette": "ready"}
    stylizer = registry.get(Stylizer)
    assert isinstance(stylizer, Stylizer)
    assert stylizer.num_styles == 4

    mix = np.array([0.25, 0, 0.75, 0], dtype=np.float32)
    result = stylizer.run(gradient(30, 45), weights=mix, strength=1.0)
    # 0.25 * red + 0.75 * blue = (63.75, 0, 191.25) -> (64, 0, 191).
    assert result.pixels.shape == (30, 45, 3)
    assert {tuple(p) for p in result.pixels.reshape(-1, 3)} == {(64, 0, 191)}

    previews = stylizer.previews()
    assert len(previews) == 4
    assert {p.shape for p in previews} == {(PREVIEW_SIDE, PREVIEW_SIDE, 3)}
    assert previews[2][0, 0].tolist() == [0, 0, 255]
    assert stylizer.previews() is previews  # made once


def test_the_transfer_pair_interpolates_the_style_vector(tmp_path: Path) -> None:
    # Named so that the transformer sorts (and would load) before its predictor.
    add_model(tmp_path, "a_painter", flat_painter, TRANSFER_TOML.format(predictor="z_mean"))
    add_model(tmp_path, "z_mean", mean_colour_predictor, PREDICT_TOML)
    registry = loaded(tmp_path)
    assert registry.status() == {"a_painter": "ready", "z_mean": "ready"}
    transfer = registry.get(StyleTransfer)
    assert isinstance(transfer, StyleTransfer)

    content = np.full((20, 30, 3), (200, 100, 0), dtype=np.uint8)
    style = np.full((9, 9, 3), (0, 100, 240), dtype=np.uint8)
    full = transfer.run(content, style, strength=1.0)
    assert full.pixels.shape == (20, 30, 3)
    assert {tuple(p) for p in full.pixels.reshape(-1, 3)} == {(0, 100, 240)}
    # Halfway between the style's vector and the content's own: (100, 100, 120).
    half = transfer.run(content, style, strength=0.5)
    assert {tuple(p) for p in half.pixels.reshape(-1, 3)} == {(100, 100, 120)}
    none = transfer.run(content, style, strength=0.0, max_side=15)
    assert none.pixels.shape == (10, 15, 3)
    assert {tuple(p) for p in none.pixels.reshape(-1, 3)} == {(200, 100, 0)}


def test_a_transformer_whose_predictor_is_missing_fails_alone(tmp_path: Path) -> None:
    add_model(tmp_path, "painter", flat_painter, TRANSFER_TOML.format(predictor="absent"))
    add_model(tmp_path, "palette", palette_stylizer, STYLIZE_TOML)
    status = loaded(tmp_path).status()
    assert status["palette"] == "ready"
    assert status["painter"] == (
        "error: no style-predict model named 'absent'; style-predict models: none"
    )


def test_a_predictor_of_another_vector_size_is_refused(tmp_path: Path) -> None:
    def wide_predictor(path: Path) -> None:
        node = helper.make_node("Concat", ["style_image", "style_image"], ["v"], axis=3)
        pool = helper.make_node("ReduceMean", ["v"], ["vector"], axes=[1, 2], keepdims=1)
        graph = build(
            [node, pool], [tensor("style_image", (1, 8, 8, 3))], [tensor("vector", (1, 1, 1, 6))]
        )
        save(graph, path)

    add_model(tmp_path, "painter", flat_painter, TRANSFER_TOML.format(predictor="wide"))
    add_model(tmp_path, "wide", wide_predictor, PREDICT_TOML)
    status = loaded(tmp_path).status()
    assert status["wide"] == "ready"
    assert status["painter"] == (
        "error: painter takes style vectors of 3 values, but its predictor wide makes 6"
    )
