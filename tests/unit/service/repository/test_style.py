"""The style tasks' spec: which input carries the style, its shape, geometry, the predictor."""

from __future__ import annotations

import tomllib

import pytest

from service.repository.config import ModelConfig, parse_config
from service.repository.errors import ModelConfigError
from service.repository.metadata import Dim, ModelSignature, TensorInfo
from service.repository.spec import resolve_spec
from service.repository.style import StyleSpec

FLOAT = "tensor(float)"


def config(text: str) -> ModelConfig:
    return parse_config(tomllib.loads(text), source="model.toml")


def signature(
    inputs: tuple[tuple[str, tuple[Dim, ...]], ...],
    outputs: tuple[tuple[Dim, ...], ...] = ((1, 3, "h", "w"),),
) -> ModelSignature:
    return ModelSignature(
        inputs=tuple(TensorInfo(name, shape, FLOAT) for name, shape in inputs),
        outputs=tuple(TensorInfo(f"out{i}", shape, FLOAT) for i, shape in enumerate(outputs)),
    )


MULTISTYLE = signature((("image", (1, 3, "h", "w")), ("style_weights", (26,))))
PREDICT = signature((("style_image", (1, 256, 256, 3)),), ((1, 1, 1, 100),))
TRANSFER = signature(
    (("content_image", (1, 384, 384, 3)), ("bottleneck", (1, 1, 1, 100))), ((1, 384, 384, 3),)
)
STYLIZE_TOML = 'task = "stylize"\n[input]\nsize = [256, 256]\n'


def refused(cfg: ModelConfig, sig: ModelSignature) -> str:
    with pytest.raises(ModelConfigError) as caught:
        resolve_spec(cfg, sig, None, config_file="m/model.toml", model_file="m/model.onnx")
    return str(caught.value)


def test_fixed_styles_read_the_weights_input_and_the_geometry() -> None:
    cfg = config(STYLIZE_TOML + "[style]\nmultiple = 4\nmin_side = 32\n")
    spec = resolve_spec(cfg, MULTISTYLE, None)
    assert spec.style == StyleSpec(
        input="style_weights", shape=(26,), multiple=4, min_side=32, predictor=None
    )
    assert spec.style.size == 26
    assert (spec.input.name, spec.input.dynamic_hw, spec.labels) == ("image", True, ())


def test_geometry_defaults_to_any_size() -> None:
    spec = resolve_spec(config(STYLIZE_TOML), MULTISTYLE, None)
    assert spec.style is not None
    assert (spec.style.multiple, spec.style.min_side) == (1, 1)


def test_a_predictor_has_its_output_as_the_vector() -> None:
    spec = resolve_spec(config('task = "style-predict"'), PREDICT, None)
    assert spec.style is not None
    assert (spec.style.input, spec.style.shape, spec.style.size) == (None, (1, 1, 1, 100), 100)
    assert (spec.input.layout, spec.input.size) == ("NHWC", (256, 256))


def test_a_transformer_names_its_predictor_and_vector_input() -> None:
    cfg = config('task = "style-transfer"\n[style]\npredictor = "arbitrary_predict"\n')
    spec = resolve_spec(cfg, TRANSFER, None)
    assert spec.style is not None
    assert (spec.style.input, spec.style.shape) == ("bottleneck", (1, 1, 1, 100))
    assert spec.style.predictor == "arbitrary_predict"
    assert spec.input.name == "content_image"


def test_other_tasks_have_no_style_spec() -> None:
    sig = signature((("x", (1, 3, 8, 8)),), ((1, 3),))
    assert resolve_spec(config('task = "classify"\n'), sig, ["a", "b", "c"]).style is None


# -- refusals ------------------------------------------------------------------------------


def test_a_transformer_without_predictor() -> None:
    message = refused(config('task = "style-transfer"'), TRANSFER)
    assert message.startswith("m/model.toml: key 'style.predictor' is required")


def test_style_keys_belong_to_their_task() -> None:
    sig = signature((("x", (1, 3, 8, 8)),), ((1, 3),))
    message = refused(config('task = "classify"\n[style]\nmultiple = 4\n'), sig)
    assert message == (
        "m/model.toml: style.multiple is only used with task stylize (this model's task is "
        "'classify')"
    )
    message = refused(config(STYLIZE_TOML + '[style]\npredictor = "p"\n'), MULTISTYLE)
    assert "style.predictor is only used with task style-transfer" in message


def test_a_stylizer_needs_a_second_input() -> None:
    message = refused(config(STYLIZE_TOML), signature((("image", (1, 3, "h", "w")),)))
    assert message.startswith(
        "m/model.onnx: task 'stylize' needs two inputs, the image and one weight per style"
    )


def test_the_style_input_must_have_a_fixed_shape() -> None:
    sig = signature((("image", (1, 3, "h", "w")), ("style_weights", ("n",))))
    message = refused(config(STYLIZE_TOML), sig)
    assert message.startswith("m/model.onnx: 'style_weights' ['n'] must have a fixed shape")


def test_unknown_and_invalid_style_keys_are_refused_by_the_schema() -> None:
    with pytest.raises(ModelConfigError, match=r"unknown key 'style.weights'.*predictor, multiple"):
        config(STYLIZE_TOML + "[style]\nweights = 3\n")
    with pytest.raises(ModelConfigError, match=r"style\.predictor"):
        config('task = "style-transfer"\n[style]\npredictor = "../elsewhere"\n')
    with pytest.raises(ModelConfigError, match=r"style\.multiple"):
        config(STYLIZE_TOML + "[style]\nmultiple = 0\n")
