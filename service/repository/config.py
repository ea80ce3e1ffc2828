"""model.toml: its schema and a loader whose refusals name file, key and allowed values.

The schema is documented in docs/ARCHITECTURE.md, 'Model repository format'.

Every key is optional and ``None`` means "not set here", so metadata and shape defaults can fill
the gaps later (``service.repository.spec``). Each key is checked here; combinations that depend on
a resolved default (the task, the resize mode) are checked where those are resolved.
Validation is strict: TOML already has types, so ``"114"`` for a number is a mistake, not a hint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from service.repository.errors import ModelConfigError
from service.repository.names import FILE_NAME_PATTERN, MODEL_NAME
from service.repository.validation import read_toml, validation_message

# Any task name here; the registry serves those of the task table (service.pipelines.tasks)
# and refuses the others, naming the ones it serves.
Task = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,63}$")]
Resize = Literal["letterbox", "stretch", "crop"]
Placement = Literal["center", "top-left"]
Color = Literal["RGB", "BGR"]
TensorLayout = Literal["NCHW", "NHWC"]
# OpenCV's cv2.resize filters, and "antialias": Pillow's bilinear, which widens its filter when
# shrinking (what torchvision's Resize does to a PIL image). See service/pipelines/resize.py.
Interpolation = Literal["linear", "area", "cubic", "nearest", "antialias"]
OutputLayout = Literal[
    "yolov8", "yolov8-seg", "yolov8-obb", "yolov5", "yolox", "yolov2", "yolov3", "end2end",
    "rtdetr", "rtdetr-scores",
    "ultraface", "retinaface", "yunet", "scrfd",
]  # fmt: skip
OutputKind = Literal["logits", "probabilities", "embedding"]

PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Triple = Annotated[list[float], Field(min_length=3, max_length=3)]
Pair = Annotated[list[PositiveFloat], Field(min_length=2, max_length=2)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class InputConfig(_Section):
    """[input]: how an image becomes the input tensor."""

    size: Annotated[list[PositiveInt], Field(min_length=2, max_length=2)] | None = None
    resize: Resize | None = None
    resize_short: PositiveInt | None = None
    placement: Placement | None = None
    pad_value: Annotated[int, Field(ge=0, le=255)] | None = None
    auto_stride: bool | None = None
    scale_up: bool | None = None
    interpolation: Interpolation | None = None
    color: Color | None = None
    scale: PositiveFloat | None = None
    mean: Triple | None = None
    std: Annotated[list[PositiveFloat], Field(min_length=3, max_length=3)] | None = None
    layout: TensorLayout | None = None
    fast_decode: bool | None = None


class OutputConfig(_Section):
    """[output]: how to read the output tensors."""

    layout: OutputLayout | None = None
    strides: Annotated[list[PositiveInt], Field(min_length=1)] | None = None
    anchors: list[list[Pair]] | None = None
    kind: OutputKind | None = None

    @field_validator("anchors", mode="before")
    @classmethod
    def _pair_flat_heads(cls, value: Any) -> Any:
        """Accept YOLO yaml's flat head form ``[10,13, 16,30]`` as well as ``[[10,13], ...]``."""
        if not isinstance(value, list):
            return value
        return [_pairs(head) for head in value]


def _pairs(head: Any) -> Any:
    if isinstance(head, list) and head and all(isinstance(v, int | float) for v in head):
        return [head[i : i + 2] for i in range(0, len(head), 2)]
    return head


class PostprocessConfig(_Section):
    """[postprocess]: detection filtering defaults (a request may override them)."""

    confidence: Fraction | None = None
    iou: Fraction | None = None
    max_detections: PositiveInt | None = None
    class_agnostic: bool | None = None
    multi_label: bool | None = None


class ThresholdsConfig(_Section):
    """[thresholds]: decision thresholds of embedders."""

    similarity: Annotated[float, Field(ge=-1.0, le=1.0)] | None = None


class StyleConfig(_Section):
    """[style]: style-transfer models: output geometry, and the predictor a transformer needs."""

    predictor: Annotated[str, Field(pattern=f"^{MODEL_NAME.pattern}$")] | None = None
    multiple: PositiveInt | None = None
    min_side: PositiveInt | None = None


class RuntimeConfig(_Section):
    """[runtime]: per-model override of the global execution-provider preference."""

    providers: list[Annotated[str, Field(min_length=1)]] | None = None


class ModelConfig(_Section):
    """A whole model.toml."""

    task: Task | None = None
    file: Annotated[str, Field(pattern=FILE_NAME_PATTERN)] | None = None
    input: InputConfig = InputConfig()
    output: OutputConfig = OutputConfig()
    postprocess: PostprocessConfig = PostprocessConfig()
    thresholds: ThresholdsConfig = ThresholdsConfig()
    style: StyleConfig = StyleConfig()
    runtime: RuntimeConfig = RuntimeConfig()


def load_config(path: Path) -> ModelConfig:
    """Read and validate one model.toml; every refusal is a ModelConfigError naming the file."""
    return parse_config(read_toml(path, ModelConfigError), source=str(path))


def parse_config(data: dict[str, Any], *, source: str) -> ModelConfig:
    """Validate parsed TOML; ``source`` names the file in messages."""
    try:
        return ModelConfig.model_validate(data)
    except ValidationError as exc:
        raise ModelConfigError(f"{source}: {validation_message(exc, ModelConfig)}") from exc
