"""model.toml parsing: every key, and refusals that name file, key and allowed values.

The keys are those of docs/ARCHITECTURE.md, 'Model repository format'.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from service.repository.config import load_config
from service.repository.errors import ModelConfigError

# The example of docs/ARCHITECTURE.md, 'Model repository format', every key set.
FULL = """
task = "detect"
file = "model.onnx"

[input]
size = [416, 416]
resize = "letterbox"
resize_short = 256
placement = "center"
pad_value = 114
auto_stride = false
scale_up = true
interpolation = "linear"
color = "RGB"
scale = 0.00392156862745098
mean = [0.0, 0.0, 0.0]
std = [1.0, 1.0, 1.0]
layout = "NCHW"

[output]
layout = "yolox"
strides = [8, 16, 32]
anchors = []
kind = "logits"

[postprocess]
confidence = 0.25
iou = 0.45
max_detections = 300
class_agnostic = false
multi_label = false

[thresholds]
similarity = 0.30

[runtime]
providers = []
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "model.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_key_of_the_contract_is_read(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL))
    assert config.task == "detect"
    assert config.file == "model.onnx"
    inp = config.input
    assert (inp.size, inp.resize, inp.resize_short, inp.placement) == (
        [416, 416],
        "letterbox",
        256,
        "center",
    )
    assert (inp.pad_value, inp.auto_stride, inp.scale_up, inp.color) == (114, False, True, "RGB")
    assert inp.interpolation == "linear"
    assert inp.scale == pytest.approx(1 / 255)
    assert (inp.mean, inp.std, inp.layout) == ([0.0] * 3, [1.0] * 3, "NCHW")
    out = config.output
    assert (out.layout, out.strides, out.anchors, out.kind) == ("yolox", [8, 16, 32], [], "logits")
    post = config.postprocess
    assert (post.confidence, post.iou, post.max_detections) == (0.25, 0.45, 300)
    assert (post.class_agnostic, post.multi_label) == (False, False)
    assert config.thresholds.similarity == 0.30
    assert config.runtime.providers == []


def test_an_empty_file_sets_nothing(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""))
    assert config.task is None and config.file is None
    assert config.input.size is None and config.input.color is None
    assert config.output.layout is None and config.postprocess.confidence is None


def test_an_integer_is_accepted_where_a_float_is_expected(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "[input]\nscale = 1")).input.scale == 1.0


@pytest.mark.parametrize(
    "anchors",
    [
        "[[[10, 13], [16, 30]], [[30, 61], [62, 45]]]",  # pairs
        "[[10, 13, 16, 30], [30, 61, 62, 45]]",  # YOLO yaml's flat form
    ],
)
def test_anchors_in_pairs_or_flat_per_head(tmp_path: Path, anchors: str) -> None:
    config = load_config(write(tmp_path, f"[output]\nanchors = {anchors}"))
    assert config.output.anchors == [[[10, 13], [16, 30]], [[30, 61], [62, 45]]]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # unknown keys and tables: the key, and the keys allowed where it stands
        ('colour = "RGB"', ["unknown key 'colour'", "task", "input", "postprocess"]),
        ('[input]\ncolour = "RGB"', ["unknown key 'input.colour'", "color", "pad_value"]),
        ("[inputs]\nsize = [1, 1]", ["unknown key 'inputs'", "input", "thresholds"]),
        ("[output.extra]\nx = 1", ["unknown key 'output.extra'", "strides", "kind"]),
        ("input = 3", ["input must be a table", "size", "layout"]),
        # values outside a fixed set: the set
        ('[input]\ncolor = "rgb"', ["input.color", "'RGB' or 'BGR'", "'rgb'"]),
        ('[input]\nresize = "fit"', ["input.resize", "'letterbox'", "'stretch'", "'crop'"]),
        ('[input]\nplacement = "left"', ["input.placement", "'center' or 'top-left'"]),
        ('[input]\nlayout = "CHW"', ["input.layout", "'NCHW' or 'NHWC'"]),
        ('[output]\nlayout = "yolov99"', ["output.layout", "'yolox'", "'scrfd'", "'yolov99'"]),
        ('[output]\nkind = "scores"', ["output.kind", "'logits'", "'embedding'"]),
        # numbers out of range: the range
        ("[input]\npad_value = 300", ["input.pad_value", "less than or equal to 255", "300"]),
        ("[input]\npad_value = -1", ["input.pad_value", "greater than or equal to 0"]),
        ("[input]\nscale = 0.0", ["input.scale", "greater than 0"]),
        ("[input]\nstd = [1.0, 0.0, 1.0]", ["input.std[1]", "greater than 0"]),
        ("[input]\nresize_short = 0", ["input.resize_short", "greater than 0"]),
        ("[postprocess]\nconfidence = 1.5", ["postprocess.confidence", "less than or equal to 1"]),
        ("[postprocess]\niou = -0.1", ["postprocess.iou", "greater than or equal to 0"]),
        ("[postprocess]\nmax_detections = 0", ["postprocess.max_detections", "greater than 0"]),
        ("[thresholds]\nsimilarity = 2.0", ["thresholds.similarity", "less than or equal to 1"]),
        ("[output]\nstrides = [8, 0]", ["output.strides[1]", "greater than 0"]),
        # wrong types: the type wanted and the value given
        ('[input]\npad_value = "114"', ["input.pad_value", "valid integer", "'114'"]),
        ("[input]\nauto_stride = 1", ["input.auto_stride", "valid boolean"]),
        ("[postprocess]\nclass_agnostic = 0", ["postprocess.class_agnostic", "valid boolean"]),
        ('[input]\nscale = "1/255"', ["input.scale", "valid number"]),
        ("[input]\nsize = 416", ["input.size", "valid list"]),
        ('[input]\nsize = [416, "416"]', ["input.size[1]", "valid integer"]),
        ("[input]\nsize = [416.0, 416.0]", ["input.size[0]", "valid integer"]),
        ('task = ["detect"]', ["task", "'detect'"]),
        ('[runtime]\nproviders = "CUDAExecutionProvider"', ["runtime.providers", "valid list"]),
        # wrong lengths: the length allowed
        ("[input]\nsize = [416]", ["input.size", "at least 2 items"]),
        ("[input]\nsize = [416, 416, 3]", ["input.size", "at most 2 items"]),
        ("[input]\nmean = [0.5, 0.5]", ["input.mean", "at least 3 items"]),
        ("[output]\nstrides = []", ["output.strides", "at least 1 item"]),
        ("[output]\nanchors = [[10, 13, 16]]", ["output.anchors[0][1]", "at least 2 items"]),
        ('[runtime]\nproviders = [""]', ["runtime.providers[0]", "at least 1 character"]),
        # file names that could leave the model's folder
        ('file = "../other/model.onnx"', ["file", "should match pattern", "../other"]),
        ('file = "sub/model.onnx"', ["file", "should match pattern"]),
    ],
)
def test_refusals_name_file_key_and_what_is_allowed(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ModelConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    for part in expected:
        assert part in message


def test_every_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, '[input]\ncolor = "rgb"\npad_value = 999')
    with pytest.raises(ModelConfigError) as caught:
        load_config(path)
    assert "input.color" in str(caught.value)
    assert "input.pad_value" in str(caught.value)


def test_toml_syntax_errors_name_the_file_and_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'task = "detect"\n[input\nsize = [1, 1]')
    with pytest.raises(ModelConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: not valid TOML")
    assert "line 2" in str(caught.value)


def test_a_file_that_is_not_utf8_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "model.toml"
    path.write_bytes(b'task = "\xff"')
    with pytest.raises(ModelConfigError, match="cannot be read"):
        load_config(path)
