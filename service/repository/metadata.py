"""What a loaded ONNX model tells about itself, without the repository touching onnxruntime.

``service.runtime`` builds a ``ModelSignature`` from its session (input/output ``NodeArg``s and
``get_modelmeta().custom_metadata_map``); everything here is pure and testable without a model.
Ultralytics exports store ``names``, ``imgsz``, ``stride``, ``task``, ``kpt_shape`` and
``end2end`` as Python-literal strings; they are parsed with ``ast.literal_eval`` (literals only,
never code).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from service.repository.errors import ModelConfigError

Dim = int | str | None  # onnxruntime reports a static size, a symbolic name, or None


@dataclass(frozen=True)
class TensorInfo:
    """One graph input or output as onnxruntime's ``NodeArg`` describes it.

    ``dtype`` is onnxruntime's type string, e.g. ``"tensor(float)"`` or ``"tensor(float16)"``.
    """

    name: str
    shape: tuple[Dim, ...]
    dtype: str

    def static_dim(self, axis: int) -> int | None:
        """The size on ``axis`` if it is a fixed positive integer, else None."""
        dim = self.shape[axis]
        return dim if isinstance(dim, int) and dim > 0 else None


@dataclass(frozen=True)
class ModelSignature:
    """A model's inputs, outputs (graph order) and custom metadata map."""

    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class UltralyticsMetadata:
    """The parts of an Ultralytics export's metadata the service uses; None where absent."""

    names: tuple[str, ...] | None = None
    imgsz: tuple[int, int] | None = None
    stride: int | None = None
    task: str | None = None
    num_keypoints: int = 0
    end2end: bool = False


def read_ultralytics(metadata: Mapping[str, str], *, source: str) -> UltralyticsMetadata:
    """Parse the Ultralytics keys of ``metadata``; ``source`` names the model in errors."""

    def literal(key: str) -> Any:
        text = metadata.get(key)
        if text is None:
            return None
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
            raise ModelConfigError(
                f"{source}: ONNX metadata {key!r} is not a Python literal: {text[:80]!r}"
            ) from exc

    task = metadata.get("task")
    return UltralyticsMetadata(
        names=_names(literal("names"), source),
        imgsz=_imgsz(literal("imgsz"), source),
        stride=_stride(literal("stride"), source),
        task=task.strip() if task else None,
        num_keypoints=_num_keypoints(literal("kpt_shape"), source),
        end2end=literal("end2end") is True,
    )


def _bad(source: str, key: str, value: Any, allowed: str) -> ModelConfigError:
    return ModelConfigError(f"{source}: ONNX metadata {key!r} = {value!r}; expected {allowed}")


def _names(value: Any, source: str) -> tuple[str, ...] | None:
    """``{0: 'person', 1: 'bicycle', ...}`` (or a list) → names in class-index order."""
    if value is None:
        return None
    if isinstance(value, list | tuple):
        value = dict(enumerate(value))
    allowed = "a dict {0: 'name', 1: ...} with indices 0..n-1, or a list of names"
    if not isinstance(value, dict) or sorted(value) != list(range(len(value))):
        raise _bad(source, "names", value, allowed)
    if not all(isinstance(name, str) for name in value.values()):
        raise _bad(source, "names", value, allowed)
    return tuple(value[i] for i in range(len(value)))


def _imgsz(value: Any, source: str) -> tuple[int, int] | None:
    """``640`` or ``[640, 640]`` (height, width) → (h, w)."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value, value]
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    ):
        return (value[0], value[1])
    raise _bad(source, "imgsz", value, "a positive int or [height, width]")


def _stride(value: Any, source: str) -> int | None:
    """The largest stride (32 for P5 models); some exports write a list of strides."""
    if value is None:
        return None
    values = value if isinstance(value, list | tuple) else [value]
    if values and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        stride = max(values)
        if stride > 0 and float(stride).is_integer():
            return int(stride)
    raise _bad(source, "stride", value, "a positive integer")


def _num_keypoints(value: Any, source: str) -> int:
    """``[17, 3]`` (pose) → 17 keypoints; the yolov8 decoder reads x, y, score per keypoint."""
    if value is None:
        return 0
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
        and value[1] == 3
    ):
        return int(value[0])
    raise _bad(source, "kpt_shape", value, "[keypoints, 3] (x, y, visibility per keypoint)")
