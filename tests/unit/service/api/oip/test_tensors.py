"""One tensor from raw bytes or from values, and back: every datatype, every refusal a 400."""

from __future__ import annotations

import re

import numpy as np
import pytest

from service.api.errors import MalformedRequestError
from service.api.oip.datatypes import NUMPY_DTYPES, config_type, datatype_of
from service.api.oip.tensors import Tensor, from_raw, from_values, raw_size

SAMPLES = {
    "BOOL": [True, False, True, True, False, False],
    "UINT8": [0, 1, 127, 128, 254, 255],
    "UINT16": [0, 1, 2, 65534, 65535, 7],
    "UINT32": [0, 1, 2, 2**32 - 1, 5, 6],
    "UINT64": [0, 1, 2, 2**64 - 1, 5, 6],
    "INT8": [-128, -1, 0, 1, 126, 127],
    "INT16": [-(2**15), -1, 0, 1, 2, 2**15 - 1],
    "INT32": [-(2**31), -1, 0, 1, 2, 2**31 - 1],
    "INT64": [-(2**63), -1, 0, 1, 2, 2**63 - 1],
    "FP16": [-65504.0, -1.5, 0.0, 0.099975586, 1.0, 65504.0],
    "FP32": [-3.4e38, -1.5, 0.0, 0.1, 1e-30, 3.4e38],
    "FP64": [-1e308, -1.5, 0.0, 0.1, 1e-300, 1e308],
}


@pytest.mark.parametrize("datatype", list(NUMPY_DTYPES))
def test_every_datatype_round_trips_through_raw_bytes_and_values(datatype: str) -> None:
    expected = np.array(SAMPLES[datatype], dtype=NUMPY_DTYPES[datatype]).reshape(2, 3)

    from_list = from_values("x", datatype, [2, 3], SAMPLES[datatype], where="input 'x'")
    from_bytes = from_raw("x", datatype, [2, 3], from_list.raw(), where="input 'x'")

    for tensor in (from_list, from_bytes):
        assert tensor.datatype == datatype
        assert tensor.array.shape == (2, 3)
        assert tensor.array.tobytes() == expected.tobytes()  # bit for bit
    assert len(from_list.raw()) == raw_size(datatype, [2, 3], where="x") == 6 * expected.itemsize


def test_raw_bytes_are_little_endian_row_major() -> None:
    tensor = Tensor("x", np.array([[1, 2], [3, 256]], dtype=">u2"))  # big-endian in memory

    assert tensor.raw() == bytes([1, 0, 2, 0, 3, 0, 0, 1])
    assert from_raw("x", "UINT16", [2, 2], tensor.raw(), where="x").array.tolist() == [
        [1, 2],
        [3, 256],
    ]


def test_nested_values_are_taken_row_major() -> None:
    tensor = from_values("x", "INT64", [2, 2], [[1, 2], [3, 4]], where="x")

    assert tensor.array.tolist() == [[1, 2], [3, 4]]


def test_an_empty_tensor_is_fine() -> None:
    assert from_values("x", "FP32", [0, 3], [], where="x").array.shape == (0, 3)
    assert from_raw("x", "FP32", [2, 0], b"", where="x").array.shape == (2, 0)
    assert from_values("x", "INT64", [2, 0], [[], []], where="x").array.shape == (2, 0)


@pytest.mark.parametrize(
    ("datatype", "values", "message"),
    [
        ("UINT8", [1, 2, 256], "UINT8 takes integer values in its range"),
        ("INT8", [-129, 0, 1], "INT8 takes integer values in its range"),
        ("INT64", [1.5, 2.0, 3.0], "holds number values"),
        ("BOOL", [1, 0, 1], "holds integer values; BOOL takes boolean"),
        ("FP32", [True, False, True], "holds boolean values"),
        ("FP32", ["a", "b", "c"], "holds non-numeric values"),
        ("FP32", [[1.0, 2.0], [3.0]], "not a regular array"),
        ("FP32", [1.0, 2.0], "has 2 values; shape [3] takes 3"),
        ("UINT64", [2**64, 0, 1], "UINT64 takes integer values in its range"),
        ("UINT64", [2**64 - 1, 0.5, 1], "holds number values"),
    ],
)
def test_values_of_the_wrong_kind_range_or_count_are_400(
    datatype: str, values: object, message: str
) -> None:
    with pytest.raises(MalformedRequestError, match=re.escape(message)):
        from_values("x", datatype, [3], values, where="input 'x'")


def test_raw_data_of_the_wrong_size_is_400_saying_what_the_shape_takes() -> None:
    with pytest.raises(
        MalformedRequestError,
        match=re.escape("has 8 bytes of raw data; shape [2, 3] of FP32 takes 24"),
    ):
        from_raw("x", "FP32", [2, 3], b"\0" * 8, where="input 'x'")


def test_unknown_datatypes_and_negative_sizes_are_400() -> None:
    with pytest.raises(MalformedRequestError, match="datatype 'BYTES' is not served"):
        from_values("x", "BYTES", [1], ["a"], where="input 'x'")
    with pytest.raises(MalformedRequestError, match="negative size"):
        from_raw("x", "FP32", [-1, 2], b"", where="input 'x'")


def test_datatype_names_follow_the_protocol_and_triton() -> None:
    assert datatype_of(np.dtype(np.float32)) == "FP32"
    assert datatype_of(np.dtype(">f4")) == "FP32"
    assert datatype_of(None, "tensor(string)") == "BYTES"
    assert config_type("FP16") == "TYPE_FP16"
    assert config_type("BYTES") == "TYPE_STRING"
