"""One model's complete, resolved description: model.toml over ONNX metadata over shape defaults.

``resolve_spec`` is where every default is decided, once, so pipelines never guess: a value set
in model.toml wins; else Ultralytics metadata (names, imgsz, stride, task, kpt_shape, end2end);
else the graph's static input shape; else the task's conventional default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from service.repository.config import (
    Color,
    Interpolation,
    ModelConfig,
    OutputKind,
    Placement,
    Resize,
    Task,
    TensorLayout,
)
from service.repository.errors import ModelConfigError
from service.repository.metadata import ModelSignature, TensorInfo, read_ultralytics
from service.repository.style import StyleSpec, resolve_style

_DETECTING = ("detect", "face-detect")
# Segment and OBB exports are detectors with masks or rotated boxes riding along on Detections.
_ULTRALYTICS_TASKS: dict[str, Task] = {
    "detect": "detect",
    "pose": "detect",
    "segment": "detect",
    "obb": "detect",
    "classify": "classify",
}
#: The input types preprocessing can write an image as.
_IMAGE_TYPES = ("tensor(float)", "tensor(float16)", "tensor(double)", "tensor(uint8)")
_DEFAULT_RESIZE: dict[str, Resize] = {
    "classify": "crop",
    "detect": "letterbox",
    "face-detect": "letterbox",
}
# The filter of each task's reference preprocessing: torchvision's Resize on a PIL image (every
# torchvision classifier, Ultralytics' classify_transforms) is Pillow's antialiasing bilinear; the
# detectors' and face models' own code (Ultralytics, YOLOX, OpenCV Zoo, insightface) calls
# cv2.resize with INTER_LINEAR, the default for every other task.
_DEFAULT_INTERPOLATION: dict[str, Interpolation] = {"classify": "antialias"}
_KINDS: dict[str, tuple[OutputKind, ...]] = {
    "classify": ("logits", "probabilities"),
    "face-embed": ("embedding",),
}
# Keys (or whole tables) that mean something only for some tasks: set elsewhere, they are a mistake.
_TASK_KEYS: dict[str, tuple[str, ...]] = {
    "output.layout": _DETECTING,
    "output.strides": _DETECTING,
    "output.anchors": _DETECTING,
    "output.kind": tuple(_KINDS),
    # stylize and style-transfer resize with their own filter (stylizer.resized), not [input]'s
    "input.interpolation": ("detect", "face-detect", "classify", "face-embed", "style-predict"),
    "postprocess": _DETECTING,
    "thresholds": ("face-embed",),
    "style.predictor": ("style-transfer",),
    "style.multiple": ("stylize",),
    "style.min_side": ("stylize",),
}


@dataclass(frozen=True)
class InputSpec:
    """How to turn an image into the input tensor ``name``: model.toml's ``[input]``.

    See docs/ARCHITECTURE.md, 'Model repository format'.
    """

    name: str
    dtype: str  # numpy dtype name: float32, float16, float64 or uint8
    size: tuple[int, int]  # (height, width) of the network input
    dynamic_hw: bool  # the graph accepts other heights/widths (auto_stride letterbox)
    batch: int | None  # fixed batch size, None when the batch axis is dynamic
    layout: TensorLayout
    resize: Resize
    resize_short: int | None  # crop: shorter side before the centre crop
    placement: Placement
    pad_value: int
    auto_stride: bool
    stride: int  # letterbox auto_stride multiple (the model's largest stride)
    scale_up: bool
    interpolation: Interpolation  # the resampling filter (service/pipelines/resize.py)
    color: Color
    scale: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    fast_decode: bool = False  # JPEGs decoded at a reduced DCT scale (pipelines/jpeg_decode)


@dataclass(frozen=True)
class OutputSpec:
    """How to read the outputs: ``layout`` None means "let detection.layouts choose by shape"."""

    names: tuple[str, ...]
    layout: str | None
    strides: tuple[int, ...]
    anchors: tuple[tuple[tuple[float, float], ...], ...]
    kind: OutputKind | None  # classify: logits | probabilities; face-embed: embedding
    num_keypoints: int


@dataclass(frozen=True)
class PostprocessSpec:
    """Detection filtering defaults; a request may override confidence, iou, max_detections."""

    confidence: float
    iou: float
    max_detections: int
    class_agnostic: bool
    multi_label: bool


@dataclass(frozen=True)
class ModelSpec:
    """Everything a pipeline needs to run one model, every default already decided."""

    task: Task
    input: InputSpec
    output: OutputSpec
    postprocess: PostprocessSpec
    labels: tuple[str, ...]  # class names by class id; empty for embedders and stylizers
    similarity: float | None  # face-embed match threshold (cosine)
    providers: tuple[str, ...]  # per-model provider preference; empty = the global one
    style: StyleSpec | None = None  # the style tasks' second input and geometry


def resolve_spec(
    config: ModelConfig | None,
    signature: ModelSignature,
    labels: Sequence[str] | None,
    *,
    config_file: str = "model.toml",
    model_file: str = "model.onnx",
    labels_file: str = "labels.txt",
) -> ModelSpec:
    """Merge model.toml, ONNX metadata, the graph's shapes and task defaults into a ModelSpec.

    The ``*_file`` arguments only name the files in error messages.
    """
    cfg = config or ModelConfig()
    meta = read_ultralytics(signature.metadata, source=model_file)
    task = _task(cfg, meta.task, config_file, model_file)
    _check_task_keys(cfg, task, config_file)
    image = _image_input(signature, model_file)
    layout = cfg.input.layout or _guess_layout(image)
    size, dynamic_hw = _input_size(cfg, image, layout, meta.imgsz, config_file, model_file)
    resize = cfg.input.resize or _default_resize(task, meta.rtdetr, cfg.output.layout)
    _check_resize_keys(cfg, resize, config_file)
    strides = tuple(cfg.output.strides) if cfg.output.strides else meta.strides
    stride = max(strides)
    inp = cfg.input
    input_spec = InputSpec(
        name=image.name,
        dtype=_dtype(image, model_file),
        size=size,
        dynamic_hw=dynamic_hw,
        batch=image.static_dim(0),
        layout=layout,
        resize=resize,
        resize_short=_resize_short(inp.resize_short, resize, size, config_file),
        placement=inp.placement or "center",
        pad_value=114 if inp.pad_value is None else inp.pad_value,
        auto_stride=_auto_stride(inp.auto_stride, resize, dynamic_hw, meta.task),
        stride=stride,
        scale_up=inp.scale_up is not False,
        interpolation=inp.interpolation or _DEFAULT_INTERPOLATION.get(task, "linear"),
        color=inp.color or "RGB",
        scale=1 / 255 if inp.scale is None else inp.scale,
        mean=_triple(inp.mean, 0.0),
        std=_triple(inp.std, 1.0),
        fast_decode=inp.fast_decode is True,
    )
    if input_spec.auto_stride and not dynamic_hw:
        raise ModelConfigError(
            f"{config_file}: input.auto_stride = true needs a model whose input height and width "
            f"are dynamic; {model_file} fixes them at {size}"
        )
    out = cfg.output
    output_spec = OutputSpec(
        names=tuple(t.name for t in signature.outputs),
        layout=out.layout or ("end2end" if meta.end2end else None),
        strides=strides,
        anchors=tuple(tuple((w, h) for w, h in head) for head in out.anchors or []),
        kind=_kind(task, out.kind, meta.task, config_file),
        num_keypoints=meta.num_keypoints,
    )
    post = cfg.postprocess
    return ModelSpec(
        task=task,
        input=input_spec,
        output=output_spec,
        postprocess=PostprocessSpec(
            confidence=0.25 if post.confidence is None else post.confidence,
            iou=_default_iou(meta.task) if post.iou is None else post.iou,
            max_detections=post.max_detections or 300,
            class_agnostic=bool(post.class_agnostic),
            multi_label=bool(post.multi_label),
        ),
        labels=_labels(task, labels, meta.names, signature, output_spec, model_file, labels_file),
        similarity=_similarity(task, cfg.thresholds.similarity, config_file),
        providers=tuple(cfg.runtime.providers or ()),
        style=resolve_style(
            task, cfg, signature, image, config_file=config_file, model_file=model_file
        ),
    )


def _default_iou(ultralytics_task: str | None) -> float:
    """NMS IoU when model.toml sets none: Ultralytics' ``predict()`` default (0.7, its
    cfg/default.yaml) for its own exports, so a default answer equals its default answer; else
    0.45, what the YOLOX, YOLOv5 and face-detector demos use."""
    return 0.7 if ultralytics_task is not None else 0.45


def _task(cfg: ModelConfig, meta_task: str | None, config_file: str, model_file: str) -> Task:
    if cfg.task is not None:
        return cfg.task
    if meta_task is None:
        raise ModelConfigError(
            f"{config_file}: key 'task' is not set and {model_file} has no Ultralytics 'task' "
            "metadata; allowed: detect, classify, face-detect, face-embed, stylize, "
            "style-predict, style-transfer"
        )
    task = _ULTRALYTICS_TASKS.get(meta_task)
    if task is None:
        raise ModelConfigError(
            f"{model_file}: Ultralytics task {meta_task!r} is not served (served: "
            f"{', '.join(_ULTRALYTICS_TASKS)}); set 'task' in {config_file} to override"
        )
    return task


def _check_task_keys(cfg: ModelConfig, task: str, config_file: str) -> None:
    dumped = cfg.model_dump(exclude_none=True)
    for key, tasks in _TASK_KEYS.items():
        section, _, name = key.partition(".")
        value = dumped[section].get(name) if name else dumped[section]
        if value and task not in tasks:
            raise ModelConfigError(
                f"{config_file}: {key} is only used with task {' or '.join(tasks)} "
                f"(this model's task is {task!r})"
            )


def _default_resize(task: str, rtdetr_head: bool, layout: str | None) -> Resize:
    """The task's default, except RT-DETR: Ultralytics' ``RTDETRPredictor`` stretches the image
    to the input size (``scale_fill``: ``LetterBox(scale_fill=True)``, no padding)."""
    if rtdetr_head or layout in ("rtdetr", "rtdetr-scores"):
        return "stretch"
    return _DEFAULT_RESIZE.get(task, "stretch")


def _check_resize_keys(cfg: ModelConfig, resize: Resize, config_file: str) -> None:
    """Keys of one resize mode set while another is in force would be silently ignored."""
    modes = {"resize_short": "crop", "placement": "letterbox", "pad_value": "letterbox",
             "auto_stride": "letterbox", "scale_up": "letterbox"}  # fmt: skip
    for key, mode in modes.items():
        if getattr(cfg.input, key) is not None and resize != mode:
            raise ModelConfigError(
                f"{config_file}: input.{key} is only used with input.resize = {mode!r} "
                f"(in force: {resize!r})"
            )


def _auto_stride(
    auto_stride: bool | None, resize: Resize, dynamic_hw: bool, meta_task: str | None
) -> bool:
    """model.toml's; else Ultralytics' ``rect`` for its dynamic exports: ``predict()`` pads only to
    the next stride multiple (LetterBox ``auto=True``) when the graph takes any size."""
    if auto_stride is not None:
        return auto_stride
    return resize == "letterbox" and dynamic_hw and meta_task is not None


def _image_input(signature: ModelSignature, model_file: str) -> TensorInfo:
    """The first 4-D input is the image; others (style vectors) belong to their pipelines."""
    for tensor in signature.inputs:
        if len(tensor.shape) == 4:
            return tensor
    found = ", ".join(f"{t.name} {list(t.shape)}" for t in signature.inputs) or "none"
    raise ModelConfigError(f"{model_file}: no 4-D image input (inputs: {found})")


def _guess_layout(image: TensorInfo) -> TensorLayout:
    """NHWC only when the last axis, and not the second, is a 3-channel axis."""
    return "NHWC" if image.static_dim(3) == 3 and image.static_dim(1) != 3 else "NCHW"


def _input_size(
    cfg: ModelConfig,
    image: TensorInfo,
    layout: TensorLayout,
    imgsz: tuple[int, int] | None,
    config_file: str,
    model_file: str,
) -> tuple[tuple[int, int], bool]:
    """(height, width) and whether the graph leaves them dynamic; refuses contradictions."""
    h_axis, w_axis, c_axis = (2, 3, 1) if layout == "NCHW" else (1, 2, 3)
    channels = image.static_dim(c_axis)
    if channels is not None and channels != 3:
        raise ModelConfigError(
            f"{model_file}: input {image.name!r} {list(image.shape)} has {channels} channels on "
            f"the {layout} channel axis; images have 3 (set input.layout in {config_file}?)"
        )
    static = (image.static_dim(h_axis), image.static_dim(w_axis))
    dynamic = None in static
    wanted = tuple(cfg.input.size) if cfg.input.size else None
    if wanted is not None:
        if any(s is not None and s != w for s, w in zip(static, wanted, strict=True)):
            raise ModelConfigError(
                f"{config_file}: input.size = {list(wanted)} contradicts {model_file}, whose "
                f"input {image.name!r} is fixed at {list(image.shape)}"
            )
        return (wanted[0], wanted[1]), dynamic
    if static[0] is not None and static[1] is not None:
        return (static[0], static[1]), False
    if imgsz is not None:
        return imgsz, dynamic
    raise ModelConfigError(
        f"{config_file}: key 'input.size' is not set and {model_file} has neither a fixed "
        f"input size ({list(image.shape)}) nor 'imgsz' metadata; allowed: [height, width]"
    )


def _dtype(image: TensorInfo, model_file: str) -> str:
    """The numpy dtype name of the image input, one that preprocessing can write."""
    dtype = image.numpy_dtype
    if dtype is None or image.dtype not in _IMAGE_TYPES:
        raise ModelConfigError(
            f"{model_file}: input {image.name!r} has type {image.dtype}; supported: "
            f"{', '.join(_IMAGE_TYPES)}"
        )
    return dtype.name


def _resize_short(
    resize_short: int | None, resize: str, size: tuple[int, int], config_file: str
) -> int | None:
    """Crop: the shorter side before the centre crop; default the crop's longer side."""
    if resize != "crop":
        return None
    short = resize_short or max(size)
    if short < max(size):
        raise ModelConfigError(
            f"{config_file}: input.resize_short = {short} is smaller than the crop {list(size)}; "
            f"allowed: at least {max(size)}"
        )
    return short


def _triple(values: list[float] | None, fill: float) -> tuple[float, float, float]:
    a, b, c = values or (fill, fill, fill)
    return (float(a), float(b), float(c))


def _labels(
    task: str,
    labels: Sequence[str] | None,
    names: tuple[str, ...] | None,
    signature: ModelSignature,
    output: OutputSpec,
    model_file: str,
    labels_file: str,
) -> tuple[str, ...]:
    """labels.txt over metadata ``names``; counts must agree with each other and the outputs."""
    if labels is not None and names is not None and len(labels) != len(names):
        raise ModelConfigError(
            f"{labels_file}: {len(labels)} labels, but the 'names' metadata of {model_file} "
            f"has {len(names)} classes"
        )
    chosen = tuple(labels) if labels is not None else names
    if chosen is None:
        if task == "face-detect":
            return ("face",)
        if task in ("detect", "classify"):
            raise ModelConfigError(
                f"{labels_file}: missing; task {task!r} needs class names (one a line) and "
                f"{model_file} has no Ultralytics 'names' metadata"
            )
        return ()
    classes = _output_classes(task, output, signature.outputs)
    if classes is not None and classes != len(chosen):
        origin = labels_file if labels is not None else f"{model_file} 'names' metadata"
        raise ModelConfigError(
            f"{origin}: {len(chosen)} labels, but the output of {model_file} has {classes} classes"
        )
    return chosen


def _output_classes(task: str, output: OutputSpec, outputs: Sequence[TensorInfo]) -> int | None:
    """Class count readable from a single output's static shape, where the layout fixes it."""
    if len(outputs) != 1:
        return None
    tensor = outputs[0]
    rank = len(tensor.shape)
    if task == "classify" and rank == 2:
        return tensor.static_dim(1)
    if rank != 3:
        return None
    if output.layout in ("yolox", "yolov5"):
        last = tensor.static_dim(2)
        return None if last is None else last - 5
    if output.layout == "yolov8":
        channels = tensor.static_dim(1)
        return None if channels is None else channels - 4 - 3 * output.num_keypoints
    return None


def _kind(
    task: str, kind: OutputKind | None, meta_task: str | None, config_file: str
) -> OutputKind | None:
    """What the output holds; the first kind of a task is its default, except that Ultralytics'
    classify exports end in a softmax (``Classify.forward`` in export mode): probabilities."""
    kinds = _KINDS.get(task)
    if kinds is None:
        return None
    if kind is None and task == meta_task == "classify":
        return "probabilities"
    if kind is not None and kind not in kinds:
        raise ModelConfigError(
            f"{config_file}: output.kind = {kind!r} does not fit task {task!r}; "
            f"allowed: {', '.join(kinds)}"
        )
    return kind or kinds[0]


def _similarity(task: str, similarity: float | None, config_file: str) -> float | None:
    if task == "face-embed" and similarity is None:
        raise ModelConfigError(
            f"{config_file}: key 'thresholds.similarity' is required for task 'face-embed' "
            "(the cosine at or above which two faces match; each embedder has its own); "
            "allowed: a number in [-1, 1]"
        )
    return similarity
