"""The HTTP framing of inference: a JSON header, binary tensor data after it, and back."""

from __future__ import annotations

import gzip
import json
import re
import zlib

import numpy as np
import pytest

from service.api.errors import BodyTooLargeError, MalformedRequestError, UnsupportedMediaTypeError
from service.api.oip.rest import decompress, encode_answer, parse_request
from service.api.oip.tensors import Tensor


def framed(header: dict[str, object], *chunks: bytes) -> tuple[bytes, str]:
    """A body as tritonclient sends binary tensors: JSON, then the raw bytes; and its length."""
    text = json.dumps(header).encode()
    return text + b"".join(chunks), str(len(text))


def binary_input(name: str, array: np.ndarray, datatype: str) -> dict[str, object]:
    return {
        "name": name,
        "shape": list(array.shape),
        "datatype": datatype,
        "parameters": {"binary_data_size": array.nbytes},
    }


def test_binary_inputs_are_cut_from_the_body_in_input_order() -> None:
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.array([True, False])
    body, length = framed(
        {"id": "7", "inputs": [binary_input("a", a, "FP32"), binary_input("b", b, "BOOL")]},
        a.tobytes(),
        b.tobytes(),
    )

    request = parse_request(body, length)

    assert request.id == "7"
    assert [t.name for t in request.inputs] == ["a", "b"]
    assert request.inputs[0].array.tobytes() == a.tobytes()
    assert request.inputs[1].array.tolist() == [True, False]
    assert request.outputs is None
    assert not request.wants_binary("anything")


def test_json_and_binary_inputs_mix() -> None:
    a = np.arange(3, dtype=np.int64)
    body, length = framed(
        {
            "inputs": [
                {"name": "k", "shape": [1], "datatype": "INT64", "data": [5]},
                binary_input("a", a, "INT64"),
            ],
            "outputs": [{"name": "y", "parameters": {"binary_data": True}}, {"name": "z"}],
        },
        a.tobytes(),
    )

    request = parse_request(body, length)

    assert [t.array.tolist() for t in request.inputs] == [[5], [0, 1, 2]]
    assert request.outputs == ["y", "z"]
    assert request.wants_binary("y") and not request.wants_binary("z")


def test_binary_data_output_makes_every_output_binary_unless_one_says_otherwise() -> None:
    body = json.dumps(
        {
            "parameters": {"binary_data_output": True},
            "inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1.0]}],
            "outputs": [{"name": "y"}, {"name": "z", "parameters": {"binary_data": False}}],
        }
    ).encode()

    request = parse_request(body, None)

    assert request.wants_binary("y") and not request.wants_binary("z")


@pytest.mark.parametrize(
    ("header", "chunks", "message"),
    [
        (
            {"inputs": [binary_input("a", np.zeros(3, np.float32), "FP32")]},
            [b"\0" * 8],
            "needs 12 bytes",
        ),
        (
            {"inputs": [binary_input("a", np.zeros(2, np.float32), "FP32")]},
            [b"\0" * 12],
            "4 bytes after",
        ),
        (
            {"inputs": [{**binary_input("a", np.zeros(2, np.float32), "FP32"), "shape": [3]}]},
            [b"\0" * 8],
            re.escape("binary_data_size 8; shape [3] of FP32 takes 12"),
        ),
        (
            {"inputs": [{**binary_input("a", np.zeros(1, np.float32), "FP32"), "data": [1.0]}]},
            [b"\0" * 4],
            "both data and binary_data_size",
        ),
        ({"inputs": [{"name": "a", "shape": [1], "datatype": "FP32"}]}, [], "neither data nor"),
        ({"inputs": []}, [], "inputs: List should have at least 1 item"),
        ({"inputs": [{"name": "a", "shape": [-1], "datatype": "FP32", "data": []}]}, [], "shape.0"),
        (
            {
                "inputs": [
                    {
                        "name": "a",
                        "shape": [1],
                        "datatype": "FP32",
                        "data": [1],
                        "parameters": {"shared_memory_region": "r"},
                    }
                ]
            },
            [],
            "shared_memory_region belongs to an extension",
        ),
        (
            {
                "inputs": [{"name": "a", "shape": [1], "datatype": "FP32", "data": [1]}],
                "outputs": [{"name": "y", "parameters": {"classification": 3}}],
            },
            [],
            "classification belongs to an extension",
        ),
        (
            {
                "parameters": {"binary_data_output": "yes"},
                "inputs": [{"name": "a", "shape": [1], "datatype": "FP32", "data": [1]}],
            },
            [],
            "binary_data_output must be true or false",
        ),
    ],
)
def test_framing_faults_are_400_saying_what_is_wrong(
    header: dict[str, object], chunks: list[bytes], message: str
) -> None:
    body, length = framed(header, *chunks)

    with pytest.raises(MalformedRequestError, match=message):
        parse_request(body, length)


def test_a_header_length_that_is_no_byte_count_is_400() -> None:
    for value in ("abc", "-3", "99999"):
        with pytest.raises(MalformedRequestError, match="Inference-Header-Content-Length"):
            parse_request(b"{}", value)


def test_binary_data_without_a_header_length_is_400() -> None:
    body = json.dumps({"inputs": [binary_input("a", np.zeros(1, np.float32), "FP32")]}).encode()

    with pytest.raises(MalformedRequestError, match="no Inference-Header-Content-Length"):
        parse_request(body, None)


def test_a_body_that_is_not_json_is_400() -> None:
    for body in (b"not json", b"\xff\xfe", b"[1, 2]"):
        with pytest.raises(MalformedRequestError, match="not valid"):
            parse_request(body, None)


def test_answers_put_binary_outputs_after_the_header_and_json_ones_in_it() -> None:
    request = parse_request(
        json.dumps(
            {
                "id": "42",
                "inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}],
                "outputs": [{"name": "y", "parameters": {"binary_data": True}}, {"name": "z"}],
            }
        ).encode(),
        None,
    )
    y = np.array([[0.1, 2.5]], dtype=np.float32)
    z = np.array([True, False])

    body, length = encode_answer("m", request, [Tensor("y", y), Tensor("z", z)])

    assert length is not None
    header = json.loads(body[:length])
    assert header == {
        "model_name": "m",
        "model_version": "1",
        "id": "42",
        "outputs": [
            {
                "name": "y",
                "datatype": "FP32",
                "shape": [1, 2],
                "parameters": {"binary_data_size": 8},
            },
            {"name": "z", "datatype": "BOOL", "shape": [2], "data": [True, False]},
        ],
    }
    assert body[length:] == y.tobytes()


def test_a_json_only_answer_has_no_header_length_and_round_trips_float32_exactly() -> None:
    request = parse_request(
        b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}', None
    )
    y = np.random.default_rng(0).random(100, dtype=np.float32)

    body, length = encode_answer("m", request, [Tensor("y", y)])

    assert length is None
    (output,) = json.loads(body)["outputs"]
    assert np.array(output["data"], dtype=np.float32).tobytes() == y.tobytes()


def test_gzip_and_deflate_bodies_are_inflated_within_the_limit() -> None:
    plain = b"x" * 1000
    assert decompress(gzip.compress(plain), "gzip", limit=1000) == plain
    assert decompress(zlib.compress(plain), "deflate", limit=1000) == plain
    assert decompress(plain, None, limit=10) == plain  # the limits middleware counted it
    with pytest.raises(BodyTooLargeError, match="decompressed body is over 999 bytes"):
        decompress(gzip.compress(plain), "gzip", limit=999)
    with pytest.raises(MalformedRequestError, match="cannot be decompressed"):
        decompress(b"not gzip", "gzip", limit=1000)
    with pytest.raises(MalformedRequestError, match="truncated"):
        decompress(gzip.compress(plain)[:-8], "gzip", limit=1000)
    with pytest.raises(UnsupportedMediaTypeError, match="br"):
        decompress(plain, "br", limit=1000)
