"""The Open Inference Protocol's tensor datatypes and the numpy dtypes that hold them.

One table, read both ways: metadata and model config name a graph tensor's type (``FP32``,
Triton's ``TYPE_FP32``), and requests are decoded into (and answers encoded from) the numpy
dtype of the name they give. Binary tensor data is little-endian, as the protocol defines it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from service.api.errors import MalformedRequestError

#: Every datatype served, by its protocol name. BYTES and BF16 are not: numpy holds neither,
#: and onnxruntime models with such inputs are refused when they load.
NUMPY_DTYPES: dict[str, np.dtype[Any]] = {
    name: np.dtype(numpy_name).newbyteorder("<")
    for name, numpy_name in {
        "BOOL": "bool",
        "UINT8": "uint8",
        "UINT16": "uint16",
        "UINT32": "uint32",
        "UINT64": "uint64",
        "INT8": "int8",
        "INT16": "int16",
        "INT32": "int32",
        "INT64": "int64",
        "FP16": "float16",
        "FP32": "float32",
        "FP64": "float64",
    }.items()
}
_NAMES = {dtype.newbyteorder("="): name for name, dtype in NUMPY_DTYPES.items()}
#: onnxruntime's types that numpy cannot hold, as the protocol names them.
_OTHER_ONNX_TYPES = {"tensor(string)": "BYTES", "tensor(bfloat16)": "BF16"}


def datatype_of(dtype: np.dtype[Any] | None, onnx_type: str = "") -> str:
    """The protocol's name for a numpy dtype (or, for types numpy lacks, the ONNX type)."""
    if dtype is not None:
        name = _NAMES.get(dtype.newbyteorder("="))
        if name is not None:
            return name
    return _OTHER_ONNX_TYPES.get(onnx_type, onnx_type or "UNKNOWN")


def config_type(datatype: str) -> str:
    """Triton's model-configuration name of a datatype: ``TYPE_FP32``, ``TYPE_STRING``."""
    return "TYPE_STRING" if datatype == "BYTES" else f"TYPE_{datatype}"


def numpy_dtype(datatype: str, *, where: str) -> np.dtype[Any]:
    """The little-endian numpy dtype of a datatype a request names; 400 for others."""
    dtype = NUMPY_DTYPES.get(datatype)
    if dtype is None:
        served = ", ".join(NUMPY_DTYPES)
        raise MalformedRequestError(
            f"{where}: datatype {datatype!r} is not served (served: {served})"
        )
    return dtype
