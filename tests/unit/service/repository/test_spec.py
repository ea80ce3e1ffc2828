"""resolve_spec: model.toml over ONNX metadata over the graph's shapes over task defaults."""

from __future__ import annotations

import tomllib

import pytest

from service.repository.config import ModelConfig, parse_config
from service.repository.errors import ModelConfigError
from service.repository.metadata import Dim, ModelSignature, TensorInfo
from service.repository.spec import ModelSpec, resolve_spec

FLOAT = "tensor(float)"
COCO3 = "{0: 'person', 1: 'bicycle', 2: 'car'}"


def signature(
    input_shape: tuple[Dim, ...] = (1, 3, 640, 640),
    outputs: tuple[tuple[Dim, ...], ...] = ((1, 7, 8400),),
    metadata: dict[str, str] | None = None,
    dtype: str = FLOAT,
) -> ModelSignature:
    return ModelSignature(
        inputs=(TensorInfo("images", input_shape, dtype),),
        outputs=tuple(TensorInfo(f"out{i}", shape, FLOAT) for i, shape in enumerate(outputs)),
        metadata=metadata or {},
    )


def ultralytics(**extra: str) -> dict[str, str]:
    return {"task": "detect", "stride": "32", "imgsz": "[640, 640]", "names": COCO3, **extra}


def config(text: str) -> ModelConfig:
    return parse_config(tomllib.loads(text), source="model.toml")


def refused(cfg: ModelConfig | None, sig: ModelSignature, labels: list[str] | None = None) -> str:
    with pytest.raises(ModelConfigError) as caught:
        resolve_spec(
            cfg, sig, labels, config_file="m/model.toml", model_file="m/model.onnx",
            labels_file="m/labels.txt",
        )  # fmt: skip
    return str(caught.value)


def test_an_ultralytics_export_needs_no_model_toml() -> None:
    spec = resolve_spec(None, signature(metadata=ultralytics()), None)
    assert spec.task == "detect"
    assert spec.labels == ("person", "bicycle", "car")
    inp = spec.input
    assert (inp.name, inp.dtype, inp.size, inp.dynamic_hw, inp.batch) == (
        "images",
        "float32",
        (640, 640),
        False,
        1,
    )
    # Ultralytics' own preprocessing: centred letterbox, grey 114, RGB, /255, no mean/std.
    assert (inp.layout, inp.resize, inp.placement, inp.pad_value) == (
        "NCHW",
        "letterbox",
        "center",
        114,
    )
    assert (inp.color, inp.scale, inp.mean, inp.std) == ("RGB", 1 / 255, (0.0,) * 3, (1.0,) * 3)
    assert (inp.auto_stride, inp.scale_up, inp.stride) == (False, True, 32)
    assert spec.output.names == ("out0",)
    assert spec.output.layout is None  # chosen from the shapes by detection.layouts
    assert spec.output.strides == (8, 16, 32)
    assert (spec.output.anchors, spec.output.kind, spec.output.num_keypoints) == ((), None, 0)
    post = spec.postprocess
    # Ultralytics' own predict() defaults (cfg/default.yaml), so default answers are equal.
    assert (post.confidence, post.iou, post.max_detections) == (0.25, 0.7, 300)
    assert (post.class_agnostic, post.multi_label) == (False, False)
    assert (spec.similarity, spec.providers) == (None, ())


def test_model_toml_overrides_metadata() -> None:
    cfg = config(
        """
        [input]
        size = [320, 480]
        color = "BGR"
        [output]
        strides = [8, 16]
        [postprocess]
        confidence = 0.5
        [runtime]
        providers = ["CPUExecutionProvider"]
        """
    )
    sig = signature(input_shape=(1, 3, "h", "w"), metadata=ultralytics(imgsz="[640, 640]"))
    spec = resolve_spec(cfg, sig, ["a", "b", "c"])
    assert spec.input.size == (320, 480)
    assert spec.input.color == "BGR"
    assert spec.output.strides == (8, 16)
    assert spec.input.stride == 16  # the letterbox multiple follows model.toml's strides
    assert spec.postprocess.confidence == 0.5
    assert spec.labels == ("a", "b", "c")  # labels.txt over the `names` metadata
    assert spec.providers == ("CPUExecutionProvider",)
    assert spec.task == "detect"  # not set in model.toml: from metadata


def test_metadata_fills_what_the_graph_leaves_dynamic() -> None:
    sig = signature(input_shape=("batch", 3, "h", "w"), metadata=ultralytics(imgsz="[480, 640]"))
    spec = resolve_spec(None, sig, None)
    assert (spec.input.size, spec.input.dynamic_hw, spec.input.batch) == ((480, 640), True, None)


def test_the_fixed_input_shape_wins_over_imgsz() -> None:
    """The graph accepts nothing else, so a different imgsz (an inconsistent export) loses."""
    sig = signature(input_shape=(1, 3, 640, 640), metadata=ultralytics(imgsz="[320, 320]"))
    assert resolve_spec(None, sig, None).input.size == (640, 640)


def test_model_stride_sets_letterbox_multiple_and_default_strides() -> None:
    spec = resolve_spec(None, signature(metadata=ultralytics(stride="64")), None)
    assert (spec.input.stride, spec.output.strides) == (64, (8, 16, 32, 64))


def test_end2end_exports_get_the_end2end_layout() -> None:
    sig = signature(outputs=((1, 300, 6),), metadata=ultralytics(end2end="True"))
    assert resolve_spec(None, sig, None).output.layout == "end2end"


def test_rtdetr_exports_stretch_as_ultralytics_rtdetr_predictor() -> None:
    # RTDETRPredictor.scale_fill: LetterBox(scale_fill=True), a stretch with no padding.
    rtdetr = signature(outputs=((1, 300, 6),), metadata=ultralytics(head="RTDETRDecoder"))
    spec = resolve_spec(None, rtdetr, None)
    assert (spec.input.resize, spec.input.auto_stride) == ("stretch", False)
    assert spec.output.layout is None  # detection.layouts reads the head from the metadata
    yolo = signature(outputs=((1, 300, 6),), metadata=ultralytics(head="Detect"))
    assert resolve_spec(None, yolo, None).input.resize == "letterbox"
    named = config('task = "detect"\n[output]\nlayout = "rtdetr"')
    assert resolve_spec(named, signature(outputs=((1, 300, 6),)), ["a"]).input.resize == "stretch"
    chosen = config('[input]\nresize = "letterbox"')
    assert resolve_spec(chosen, rtdetr, None).input.resize == "letterbox"  # model.toml wins


def test_pose_exports_are_detectors_with_keypoints() -> None:
    meta = {"task": "pose", "imgsz": "[640, 640]", "names": "{0: 'person'}", "kpt_shape": "[17, 3]"}
    cfg = config('[output]\nlayout = "yolov8"')
    spec = resolve_spec(cfg, signature(outputs=((1, 4 + 1 + 17 * 3, 8400),), metadata=meta), None)
    assert (spec.task, spec.output.num_keypoints, spec.labels) == ("detect", 17, ("person",))


@pytest.mark.parametrize(
    ("task", "outputs"),
    [("segment", ((1, 4 + 3 + 32, 8400), (1, 32, 160, 160))), ("obb", ((1, 4 + 3 + 1, 8400),))],
)
def test_segment_and_obb_exports_are_detectors_without_model_toml(
    task: str, outputs: tuple[tuple[int, ...], ...]
) -> None:
    spec = resolve_spec(None, signature(outputs=outputs, metadata=ultralytics(task=task)), None)
    assert (spec.task, spec.output.layout, spec.input.resize) == ("detect", None, "letterbox")
    assert spec.labels == ("person", "bicycle", "car")


def test_classifier_defaults_to_resize_and_centre_crop_of_logits() -> None:
    cfg = config('task = "classify"')
    sig = signature(input_shape=(1, 3, 224, 224), outputs=((1, 3),))
    spec = resolve_spec(cfg, sig, ["a", "b", "c"])
    assert (spec.input.resize, spec.input.resize_short) == ("crop", 224)
    assert spec.output.kind == "logits"


def test_face_detectors_are_labelled_face() -> None:
    spec = resolve_spec(config('task = "face-detect"'), signature(outputs=((1, 10, 4),)), None)
    assert spec.labels == ("face",)


def test_face_embedder_keeps_its_threshold() -> None:
    cfg = config('task = "face-embed"\n[thresholds]\nsimilarity = 0.363')
    spec = resolve_spec(cfg, signature(input_shape=(1, 3, 112, 112), outputs=((1, 128),)), None)
    assert (spec.similarity, spec.output.kind, spec.labels) == (0.363, "embedding", ())
    assert spec.input.resize == "stretch"


def test_nhwc_is_recognised_from_the_channel_axis() -> None:
    cfg = config('task = "style-predict"')
    spec = resolve_spec(cfg, signature(input_shape=(1, 256, 192, 3), outputs=((1, 100),)), None)
    assert (spec.input.layout, spec.input.size) == ("NHWC", (256, 192))


def test_the_first_4d_input_is_the_image() -> None:
    sig = ModelSignature(
        inputs=(
            TensorInfo("style_weights", (26,), FLOAT),
            TensorInfo("image", (1, 3, "h", "w"), FLOAT),
        ),
        outputs=(TensorInfo("stylized", (1, 3, "h", "w"), FLOAT),),
    )
    spec = resolve_spec(config('task = "stylize"\n[input]\nsize = [256, 256]'), sig, None)
    assert spec.input.name == "image"


@pytest.mark.parametrize(
    ("onnx_type", "dtype"), [("tensor(float16)", "float16"), (FLOAT, "float32")]
)
def test_input_dtype_is_reported_as_numpy_name(onnx_type: str, dtype: str) -> None:
    sig = signature(metadata=ultralytics(), dtype=onnx_type)
    assert resolve_spec(None, sig, None).input.dtype == dtype


# -- refusals ------------------------------------------------------------------------------


def test_no_task_anywhere() -> None:
    message = refused(None, signature())
    assert message.startswith("m/model.toml: key 'task' is not set")
    assert "m/model.onnx" in message and "face-detect" in message


def test_an_unserved_ultralytics_task() -> None:
    message = refused(None, signature(metadata=ultralytics(task="depth")))
    assert message.startswith("m/model.onnx: Ultralytics task 'depth' is not served")
    assert "segment" in message and "obb" in message


def test_no_input_size_anywhere() -> None:
    message = refused(config('task = "detect"'), signature(input_shape=(1, 3, "h", "w")), ["a"])
    assert message.startswith("m/model.toml: key 'input.size' is not set")
    assert "[height, width]" in message


def test_nms_iou_defaults_to_the_exporters_own_predict() -> None:
    yolox = config('task = "detect"\n[output]\nlayout = "yolox"')
    plain = resolve_spec(yolox, signature(outputs=((1, 8400, 8),)), ["a", "b", "c"])
    assert plain.postprocess.iou == 0.45  # the YOLOX / YOLOv5 demos
    exported = resolve_spec(None, signature(metadata=ultralytics()), None)
    assert exported.postprocess.iou == 0.7  # Ultralytics' predict()
    chosen = resolve_spec(
        config("[postprocess]\niou = 0.5"), signature(metadata=ultralytics()), None
    )
    assert chosen.postprocess.iou == 0.5


def test_a_size_the_graph_cannot_take() -> None:
    cfg = config("[input]\nsize = [320, 320]")
    message = refused(cfg, signature(metadata=ultralytics()))
    assert message.startswith("m/model.toml: input.size = [320, 320] contradicts m/model.onnx")


def test_an_input_without_three_channels() -> None:
    message = refused(config('task = "classify"'), signature(input_shape=(1, 1, 28, 28)), ["a"])
    assert "m/model.onnx" in message and "1 channels" in message and "input.layout" in message


def test_an_unsupported_input_type() -> None:
    message = refused(None, signature(metadata=ultralytics(), dtype="tensor(int64)"))
    assert "tensor(int64)" in message and "tensor(float16)" in message


def test_a_model_without_an_image_input() -> None:
    sig = ModelSignature(inputs=(TensorInfo("x", (1, 10), FLOAT),), outputs=())
    assert "no 4-D image input" in refused(config('task = "classify"'), sig)


def test_labels_count_differs_from_names_metadata() -> None:
    message = refused(None, signature(metadata=ultralytics()), ["a", "b"])
    assert message.startswith("m/labels.txt: 2 labels")
    assert "3 classes" in message


@pytest.mark.parametrize(
    ("toml", "output", "classes"),
    [
        ('task = "classify"', (1, 1000), 1000),
        ('task = "detect"\n[output]\nlayout = "yolox"', (1, 3549, 85), 80),
        ('task = "detect"\n[output]\nlayout = "yolov5"', (1, 25200, 85), 80),
        ('task = "detect"\n[output]\nlayout = "yolov8"', (1, 84, 8400), 80),
    ],
)
def test_labels_count_must_match_the_outputs_classes(
    toml: str, output: tuple[int, ...], classes: int
) -> None:
    sig = signature(input_shape=(1, 3, 224, 224), outputs=(output,))
    right = resolve_spec(config(toml), sig, [f"c{i}" for i in range(classes)])
    assert len(right.labels) == classes
    message = refused(config(toml), sig, [f"c{i}" for i in range(classes - 1)])
    assert message.startswith(f"m/labels.txt: {classes - 1} labels")
    assert f"{classes} classes" in message


def test_names_metadata_must_match_the_outputs_classes_too() -> None:
    cfg = config('[output]\nlayout = "yolov8"')
    message = refused(cfg, signature(outputs=((1, 4 + 80, 8400),), metadata=ultralytics()))
    assert message.startswith("m/model.onnx 'names' metadata: 3 labels")


@pytest.mark.parametrize("task", ["detect", "classify"])
def test_missing_labels(task: str) -> None:
    message = refused(config(f'task = "{task}"'), signature(outputs=((1, 10),)))
    assert message.startswith("m/labels.txt: missing")
    assert "names" in message


def test_face_embedder_without_a_threshold() -> None:
    message = refused(config('task = "face-embed"'), signature(outputs=((1, 128),)))
    assert message.startswith("m/model.toml: key 'thresholds.similarity' is required")


@pytest.mark.parametrize(
    ("toml", "key", "allowed"),
    [
        ('task = "classify"\n[thresholds]\nsimilarity = 0.3', "thresholds", "face-embed"),
        ('task = "classify"\n[postprocess]\niou = 0.3', "postprocess", "detect or face-detect"),
        ('task = "face-embed"\n[output]\nlayout = "yolox"', "output.layout", "detect"),
        ('task = "classify"\n[output]\nstrides = [8]', "output.strides", "detect"),
        ('task = "detect"\n[output]\nkind = "logits"', "output.kind", "classify or face-embed"),
    ],
)
def test_keys_of_another_task(toml: str, key: str, allowed: str) -> None:
    cfg = config(toml + "\n[thresholds]\nsimilarity = 0.3" if "face-embed" in toml else toml)
    message = refused(cfg, signature(outputs=((1, 3),)), ["a", "b", "c"])
    assert message.startswith(f"m/model.toml: {key} is only used with task")
    assert allowed in message


def test_an_output_kind_that_does_not_fit_the_task() -> None:
    cfg = config('task = "classify"\n[output]\nkind = "embedding"')
    message = refused(cfg, signature(outputs=((1, 3),)), ["a", "b", "c"])
    assert "output.kind = 'embedding'" in message and "logits, probabilities" in message


@pytest.mark.parametrize(
    ("toml", "key", "mode"),
    [
        ('task = "detect"\n[input]\nresize_short = 256', "resize_short", "crop"),
        ('task = "classify"\n[input]\npad_value = 0', "pad_value", "letterbox"),
        (
            'task = "detect"\n[input]\nresize = "stretch"\nplacement = "center"',
            "placement",
            "letterbox",
        ),
        (
            'task = "detect"\n[input]\nresize = "crop"\nauto_stride = true',
            "auto_stride",
            "letterbox",
        ),
    ],
)
def test_keys_of_another_resize_mode(toml: str, key: str, mode: str) -> None:
    message = refused(config(toml), signature(outputs=((1, 3),)), ["a", "b", "c"])
    assert message.startswith(
        f"m/model.toml: input.{key} is only used with input.resize = '{mode}'"
    )


def test_a_resize_short_smaller_than_the_crop() -> None:
    cfg = config('task = "classify"\n[input]\nresize = "crop"\nresize_short = 200')
    message = refused(cfg, signature(input_shape=(1, 3, 224, 224), outputs=((1, 3),)), ["a"] * 3)
    assert "input.resize_short = 200" in message and "at least 224" in message


def test_auto_stride_needs_a_dynamic_input() -> None:
    cfg = config("[input]\nauto_stride = true")
    message = refused(cfg, signature(metadata=ultralytics()))
    assert message.startswith("m/model.toml: input.auto_stride = true needs a model")


def test_spec_is_frozen() -> None:
    spec: ModelSpec = resolve_spec(None, signature(metadata=ultralytics()), None)
    with pytest.raises(AttributeError):
        spec.task = "classify"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('task = "detect"', "linear"),  # cv2.resize INTER_LINEAR: Ultralytics, YOLOX, face demos
        ('task = "face-detect"', "linear"),
        ('task = "classify"', "antialias"),  # torchvision's Resize on a PIL image
        ('task = "detect"\n[input]\ninterpolation = "area"', "area"),
        ('task = "classify"\n[input]\ninterpolation = "linear"', "linear"),
    ],
)
def test_interpolation_follows_the_task_unless_model_toml_says(toml: str, expected: str) -> None:
    spec = resolve_spec(config(toml), signature(outputs=((1, 3),)), ["a", "b", "c"])
    assert spec.input.interpolation == expected


def test_an_unknown_interpolation_is_refused() -> None:
    with pytest.raises(ModelConfigError, match=r"input\.interpolation"):
        config('[input]\ninterpolation = "lanczos"')


def test_style_models_that_resize_themselves_refuse_interpolation() -> None:
    cfg = config('task = "stylize"\n[input]\ninterpolation = "linear"')
    message = refused(cfg, signature())
    assert message.startswith("m/model.toml: input.interpolation is only used with task detect")


def test_dynamic_ultralytics_exports_letterbox_to_the_minimal_rectangle() -> None:
    """predict()'s rect: LetterBox(auto=True) whenever the export takes any input size."""
    dynamic = signature(input_shape=("batch", 3, "height", "width"), metadata=ultralytics())
    assert resolve_spec(None, dynamic, None).input.auto_stride is True
    static = signature(metadata=ultralytics())
    assert resolve_spec(None, static, None).input.auto_stride is False
    fixed = config("[input]\nauto_stride = false")  # predict(rect=False)
    assert resolve_spec(fixed, dynamic, None).input.auto_stride is False
    # A YOLOv5-repository export (stride and names, no task): its detect.py letterboxes ONNX
    # models to the full size.
    yolov5 = signature(
        input_shape=("batch", 3, "height", "width"), metadata={"stride": "32", "names": COCO3}
    )
    sized = config('task = "detect"\n[input]\nsize = [640, 640]')
    assert resolve_spec(sized, yolov5, None).input.auto_stride is False


def test_ultralytics_classify_exports_give_probabilities() -> None:
    """Their head ends in a softmax; a second one would flatten every score to ~1/classes."""
    meta = {"task": "classify", "imgsz": "[224, 224]", "names": COCO3}
    sig = signature(input_shape=(1, 3, 224, 224), outputs=((1, 3),), metadata=meta)
    spec = resolve_spec(None, sig, None)
    assert (spec.output.kind, spec.input.resize, spec.input.resize_short) == (
        "probabilities",
        "crop",
        224,
    )
    assert (spec.input.interpolation, spec.input.mean, spec.input.std) == (
        "antialias",
        (0.0,) * 3,
        (1.0,) * 3,
    )
    logits = config('[output]\nkind = "logits"')
    assert resolve_spec(logits, sig, None).output.kind == "logits"  # model.toml still wins
    plain = config('task = "classify"')  # no Ultralytics metadata: torchvision-style logits
    sig_plain = signature(input_shape=(1, 3, 224, 224), outputs=((1, 3),))
    assert resolve_spec(plain, sig_plain, ["a", "b", "c"]).output.kind == "logits"
