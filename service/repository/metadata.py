"""What a loaded ONNX model tells about itself, without the repository touching onnxruntime.

``service.runtime`` builds a ``ModelSignature`` from its session (input/output ``NodeArg``s and
``get_modelmeta().custom_metadata_map``); everything here is pure and testable without a model.
The Ultralytics keys of the metadata are parsed by :mod:`detection.metadata`, the one parser
that both the service and layout detection use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detection.errors import MetadataError
from detection.metadata import UltralyticsMetadata, parse_ultralytics
from service.repository.errors import ModelConfigError

Dim = int | str | None  # onnxruntime reports a static size, a symbolic name, or None

#: onnxruntime's tensor type strings and the numpy dtypes that hold them.
_NUMPY_DTYPES = {
    f"tensor({ort_name})": np.dtype(np_name)
    for ort_name, np_name in {
        "float": "float32",
        "float16": "float16",
        "double": "float64",
        "int8": "int8",
        "uint8": "uint8",
        "int16": "int16",
        "uint16": "uint16",
        "int32": "int32",
        "uint32": "uint32",
        "int64": "int64",
        "uint64": "uint64",
        "bool": "bool",
    }.items()
}


@dataclass(frozen=True)
class TensorInfo:
    """One graph input or output as onnxruntime's ``NodeArg`` describes it.

    ``dtype`` is onnxruntime's type string, e.g. ``"tensor(float)"`` or ``"tensor(float16)"``.
    """

    name: str
    shape: tuple[Dim, ...]
    dtype: str

    @property
    def numpy_dtype(self) -> np.dtype[Any] | None:
        """The numpy dtype of ``dtype``; None for types numpy cannot hold (strings, maps)."""
        return _NUMPY_DTYPES.get(self.dtype)

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


def read_ultralytics(metadata: Mapping[str, str], *, source: str) -> UltralyticsMetadata:
    """Parsed Ultralytics keys; a malformed one is a ModelConfigError naming ``source``."""
    try:
        return parse_ultralytics(metadata)
    except MetadataError as exc:
        raise ModelConfigError(f"{source}: {exc}") from exc
