"""One tensor of a request or an answer, and its two encodings: raw little-endian bytes
(HTTP's binary tensor data, gRPC's ``raw_*_contents``) and a list of values (HTTP's JSON
``data``, gRPC's typed ``contents``). HTTP and gRPC frame tensors differently but decode and
encode each one here, with the same checks and the same 400s.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.api.errors import MalformedRequestError
from service.api.oip.datatypes import datatype_of, numpy_dtype

#: Most dimensions a tensor may have (numpy's own limit is 64; no model comes near).
MAX_RANK = 32


@dataclass(frozen=True)
class Tensor:
    """A named tensor; its datatype is its array's."""

    name: str
    array: NDArray[Any]

    @property
    def datatype(self) -> str:
        return datatype_of(self.array.dtype)

    def raw(self) -> bytes:
        """Row-major, little-endian bytes, as binary tensor data carries them."""
        array = np.ascontiguousarray(self.array)
        return array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()


def raw_size(datatype: str, shape: Sequence[int], *, where: str) -> int:
    """How many bytes a tensor of ``datatype`` and ``shape`` takes as raw data."""
    return math.prod(shape) * numpy_dtype(datatype, where=where).itemsize


def from_raw(
    name: str, datatype: str, shape: Sequence[int], raw: bytes | memoryview, *, where: str
) -> Tensor:
    """A tensor from its raw bytes, which must be exactly as many as its shape takes."""
    dtype = numpy_dtype(datatype, where=where)
    _check_shape(shape, where)
    expected = math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        raise MalformedRequestError(
            f"{where} has {len(raw)} bytes of raw data; shape {list(shape)} of {datatype} "
            f"takes {expected}"
        )
    array = np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("="), copy=False)
    return Tensor(name, array.reshape(shape))


def from_values(
    name: str, datatype: str, shape: Sequence[int], values: Any, *, where: str
) -> Tensor:
    """A tensor from its values (flat or nested, row-major), each of the datatype's kind and
    (integers) in its range; as many as its shape takes."""
    dtype = numpy_dtype(datatype, where=where)
    _check_shape(shape, where)
    try:
        array = np.array(values)
    except (ValueError, TypeError, OverflowError):
        raise MalformedRequestError(f"{where}: data is not a regular array of numbers") from None
    if array.size == 0:
        array = np.zeros(0, dtype=dtype)
    elif array.dtype.kind in "fO" and dtype.kind in "iu":  # numpy's pick for ints past int64
        array = _exact_integers(values, array, dtype)
    if not _holds(array, dtype):
        raise MalformedRequestError(
            f"{where}: data holds {_kind_name(array.dtype)} values; {datatype} takes "
            f"{_kind_name(dtype)} values in its range"
        )
    if array.size != math.prod(shape):
        raise MalformedRequestError(
            f"{where} has {array.size} values; shape {list(shape)} takes {math.prod(shape)}"
        )
    return Tensor(name, array.astype(dtype.newbyteorder("=")).reshape(shape))


def _check_shape(shape: Sequence[int], where: str) -> None:
    if len(shape) > MAX_RANK:
        raise MalformedRequestError(f"{where}: {len(shape)} dimensions; at most {MAX_RANK}")
    if any(dim < 0 for dim in shape):
        raise MalformedRequestError(f"{where}: shape {list(shape)} has a negative size")


def _exact_integers(values: Any, array: NDArray[Any], dtype: np.dtype[Any]) -> NDArray[Any]:
    """``values`` that numpy read as float or object because an integer is past int64
    (UINT64's upper half), read again exactly; ``array`` if any value is no integer."""
    flat = np.array(values, dtype=object).ravel()
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in flat):
        return array
    try:
        return np.array(flat.tolist(), dtype=dtype).reshape(array.shape)
    except OverflowError:  # out of the datatype's range: refused by _holds
        return array


def _holds(array: NDArray[Any], dtype: np.dtype[Any]) -> bool:
    """Whether every value of ``array`` is of ``dtype``'s kind and (integers) in its range."""
    kind = array.dtype.kind
    if array.size == 0:
        return True
    if dtype.kind == "b":
        return kind == "b"
    if dtype.kind == "f":
        return kind in "iuf"
    if kind not in "iu":
        return False
    limits = np.iinfo(dtype)
    return bool(array.min() >= limits.min and array.max() <= limits.max)


def _kind_name(dtype: np.dtype[Any]) -> str:
    return {"b": "boolean", "i": "integer", "u": "integer", "f": "number"}.get(
        dtype.kind, "non-numeric"
    )
