"""Ultralytics' ONNX metadata, read in one place and strictly: malformed values are refused.

Ultralytics exports (and the YOLOv5 repository's) store ``names``, ``imgsz``, ``stride``,
``kpt_shape`` and ``end2end`` as ``str()`` of Python objects, read here with
``ast.literal_eval`` (literals only, never code), and ``task`` and ``head`` as plain text. An
absent key means "not known"; a present but malformed one raises :class:`MetadataError` naming
the key, the value and what is allowed, since a model decoded on a guess gives plausible, wrong
boxes.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from detection.candidates import DEFAULT_STRIDES
from detection.errors import MetadataError

__all__ = ["UltralyticsMetadata", "parse_ultralytics"]

_T = TypeVar("_T")
_NAMES = "a non-empty dict {0: 'name', 1: ...} with indices 0..n-1, or a list of names"


@dataclass(frozen=True)
class UltralyticsMetadata:
    """The Ultralytics keys decoders and the service use; None (0, False) where absent."""

    names: tuple[str, ...] | None = None  # class names in class-index order
    imgsz: tuple[int, int] | None = None  # (height, width)
    stride: int | None = None  # the largest stride: 32 for P5 models, 64 for P6
    task: str | None = None
    num_keypoints: int = 0
    end2end: bool = False
    head: str | None = None  # head class: Detect, Pose, RTDETRDecoder (since 8.4.6x-8.4.115)

    @property
    def rtdetr(self) -> bool:
        """An RT-DETR export: its ``[B, K, 6]`` rows are normalised boxes, not end2end's pixels."""
        return self.head == "RTDETRDecoder"

    @property
    def strides(self) -> tuple[int, ...]:
        """The FPN strides 8, 16, ... up to ``stride`` (64 adds P6), else the default ones."""
        if self.stride is None:
            return DEFAULT_STRIDES
        if self.stride < DEFAULT_STRIDES[0]:
            return (self.stride,)
        strides = [DEFAULT_STRIDES[0]]
        while strides[-1] * 2 <= self.stride:
            strides.append(strides[-1] * 2)
        return tuple(strides)


def parse_ultralytics(metadata: Mapping[str, str]) -> UltralyticsMetadata:
    """The Ultralytics keys of a model's custom metadata map; MetadataError where malformed."""
    keypoints = _read(metadata, "kpt_shape", _num_keypoints, "[keypoints, 3] (x, y, visibility)")
    return UltralyticsMetadata(
        names=_read(metadata, "names", _names, _NAMES),
        imgsz=_read(metadata, "imgsz", _imgsz, "a positive int or [height, width]"),
        stride=_read(metadata, "stride", _stride, "a positive integer"),
        task=_text(metadata, "task", "a task such as 'detect'"),
        num_keypoints=keypoints or 0,
        end2end=_read(metadata, "end2end", _end2end, "True or False") is True,
        head=_text(metadata, "head", "a head class such as 'Detect'"),
    )


def _read(
    metadata: Mapping[str, str], key: str, convert: Callable[[Any], _T | None], allowed: str
) -> _T | None:
    """``convert`` of the literal under ``key``; None when absent, MetadataError when malformed."""
    text = metadata.get(key)
    if text is None:
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise MetadataError(
            f"ONNX metadata {key!r} is not a Python literal: {text[:80]!r}"
        ) from exc
    converted = convert(value)
    if converted is None:
        raise MetadataError(f"ONNX metadata {key!r} = {value!r}; expected {allowed}")
    return converted


def _text(metadata: Mapping[str, str], key: str, allowed: str) -> str | None:
    """Plain text (``detect``, ``Detect``, ...), not a literal; blank is refused."""
    text = metadata.get(key)
    if text is None:
        return None
    if not text.strip():
        raise MetadataError(f"ONNX metadata {key!r} = {text!r}; expected {allowed}")
    return text.strip()


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)  # True is no 1


def _is_int(value: Any) -> bool:
    return _is_number(value) and isinstance(value, int)


def _positive_pair(value: Any) -> bool:
    return (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(_is_int(v) and v > 0 for v in value)
    )


def _names(value: Any) -> tuple[str, ...] | None:
    """``{0: 'person', 1: 'bicycle', ...}`` (or a list) → names in class-index order."""
    if isinstance(value, list | tuple):
        value = dict(enumerate(value))
    if not isinstance(value, dict) or not all(_is_int(index) for index in value):
        return None
    found = [value.get(index) for index in range(len(value))]  # None where an index is missing
    names = tuple(name for name in found if isinstance(name, str))
    return names if names and len(names) == len(found) else None


def _imgsz(value: Any) -> tuple[int, int] | None:
    """``640`` or ``[640, 480]`` (height, width) → (h, w)."""
    if _is_int(value):
        value = [value, value]
    return (value[0], value[1]) if _positive_pair(value) else None


def _stride(value: Any) -> int | None:
    """The largest stride; some exports write the list of strides, or a float."""
    values = value if isinstance(value, list | tuple) else [value]
    if not values or not all(_is_number(v) for v in values):
        return None
    stride = max(values)
    return int(stride) if stride > 0 and float(stride).is_integer() else None


def _num_keypoints(value: Any) -> int | None:
    """``[17, 3]`` (pose) → 17 keypoints; the yolov8 decoder reads x, y, score per keypoint."""
    return int(value[0]) if _positive_pair(value) and value[1] == 3 else None


def _end2end(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None
