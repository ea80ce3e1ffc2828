"""The HTTP/REST encoding of inference: JSON tensors and the binary tensor data extension.

A request body is a JSON header, then (when ``Inference-Header-Content-Length`` says where the
header ends) the raw bytes of every input whose ``parameters.binary_data_size`` is given, in
input order, little-endian, row-major. Outputs come back as JSON ``data`` or, when a requested
output has ``binary_data: true`` (or the request ``binary_data_output: true``), as raw bytes
after the JSON header in the same way. Pure functions of bytes and arrays: no HTTP here.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from service.api.errors import BodyTooLargeError, MalformedRequestError, UnsupportedMediaTypeError
from service.api.oip.served import VERSION, refuse_unserved
from service.api.oip.tensors import Tensor, from_raw, from_values, raw_size

HEADER_LENGTH = "Inference-Header-Content-Length"

Parameter = StrictBool | StrictInt | float | StrictStr  # the protocol: string, number or boolean


class _Input(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: StrictStr
    shape: list[Annotated[StrictInt, Field(ge=0)]]
    datatype: StrictStr
    parameters: dict[str, Parameter] = {}
    data: Any = None


class _Output(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: StrictStr
    parameters: dict[str, Parameter] = {}


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: StrictStr | None = None
    parameters: dict[str, Parameter] = {}
    inputs: list[_Input] = Field(min_length=1)
    outputs: list[_Output] | None = None


@dataclass(frozen=True)
class InferRequest:
    """A decoded request: its id, input tensors, and which outputs in which form."""

    id: str | None
    inputs: list[Tensor]
    outputs: list[str] | None  # None: every output
    binary: dict[str, bool]  # output name -> as binary data
    binary_default: bool  # for outputs not listed (all of them when ``outputs`` is None)

    def wants_binary(self, output: str) -> bool:
        return self.binary.get(output, self.binary_default)


def decompress(body: bytes, encoding: str | None, *, limit: int) -> bytes:
    """The body as sent before ``Content-Encoding`` (gzip or deflate), at most ``limit`` bytes."""
    if encoding is None or encoding.strip().lower() in ("", "identity"):
        return body
    if encoding.strip().lower() not in ("gzip", "deflate"):
        raise UnsupportedMediaTypeError(
            f"Content-Encoding {encoding!r} is not accepted (gzip, deflate or none)"
        )
    inflater = zlib.decompressobj(wbits=47)  # 32 + 15: zlib or gzip, told by its header
    try:
        plain = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise MalformedRequestError(f"the {encoding} body cannot be decompressed: {exc}") from None
    if len(plain) > limit:
        raise BodyTooLargeError(
            f"the decompressed body is over {limit} bytes (VISION_MAX_BODY_BYTES)"
        )
    if not inflater.eof or inflater.unused_data:
        raise MalformedRequestError(f"the {encoding} body is truncated or has trailing bytes")
    return plain


def parse_request(body: bytes, header_length: str | None) -> InferRequest:
    """Decode an inference request body; every fault is a 400 saying which field."""
    split = _header_length(header_length, len(body))
    header, binary = (body, b"") if split is None else (body[:split], body[split:])
    try:
        request = _Request.model_validate(json.loads(header))
    except ValueError as exc:  # json's errors, UnicodeDecodeError and pydantic's
        raise MalformedRequestError(f"the inference request is not valid: {_why(exc)}") from None
    inputs: list[Tensor] = []
    offset = 0
    for item in request.inputs:
        tensor, used = _input(item, binary, offset, framed=split is not None)
        inputs.append(tensor)
        offset += used
    if offset != len(binary):
        raise MalformedRequestError(
            f"the body holds {len(binary) - offset} bytes after the binary data of the inputs"
        )
    binary_default = _flag(request.parameters, "binary_data_output", "request")
    outputs = None
    wanted: dict[str, bool] = {}
    if request.outputs is not None:
        outputs = [output.name for output in request.outputs]
        for output in request.outputs:
            where = f"output {output.name!r}"
            refuse_unserved(output.parameters, where)
            wanted[output.name] = _flag(output.parameters, "binary_data", where, binary_default)
    return InferRequest(request.id, inputs, outputs, wanted, binary_default)


def encode_answer(
    model: str, request: InferRequest, outputs: Sequence[Tensor]
) -> tuple[bytes, int | None]:
    """The answer body, and the JSON header's length when binary outputs follow it."""
    described: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for tensor in outputs:
        entry: dict[str, Any] = {
            "name": tensor.name,
            "datatype": tensor.datatype,
            "shape": list(tensor.array.shape),
        }
        if request.wants_binary(tensor.name):
            raw = tensor.raw()
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            entry["data"] = tensor.array.ravel().tolist()
        described.append(entry)
    answer: dict[str, Any] = {"model_name": model, "model_version": VERSION}
    if request.id is not None:
        answer["id"] = request.id
    answer["outputs"] = described
    header = json.dumps(answer, separators=(",", ":")).encode()
    if not chunks:
        return header, None
    return b"".join([header, *chunks]), len(header)


def _header_length(value: str | None, body_length: int) -> int | None:
    if value is None:
        return None
    if not value.strip().isdigit() or int(value) > body_length:
        raise MalformedRequestError(
            f"{HEADER_LENGTH} must be a byte count within the body's {body_length} bytes, "
            f"got {value[:40]!r}"
        )
    return int(value)


def _input(item: _Input, binary: bytes, offset: int, *, framed: bool) -> tuple[Tensor, int]:
    """The input's tensor, and how many bytes of the binary section it used."""
    where = f"input {item.name!r}"
    refuse_unserved(item.parameters, where)
    size = item.parameters.get("binary_data_size")
    if size is None:
        if item.data is None:
            raise MalformedRequestError(f"{where} has neither data nor binary_data_size")
        return from_values(item.name, item.datatype, item.shape, item.data, where=where), 0
    if item.data is not None:
        raise MalformedRequestError(f"{where} has both data and binary_data_size")
    if not framed:
        raise MalformedRequestError(f"{where} has binary_data_size but there is no {HEADER_LENGTH}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise MalformedRequestError(f"{where}: binary_data_size must be a byte count, got {size!r}")
    expected = raw_size(item.datatype, item.shape, where=where)
    if size != expected:
        raise MalformedRequestError(
            f"{where} has binary_data_size {size}; shape {item.shape} of {item.datatype} "
            f"takes {expected}"
        )
    if offset + size > len(binary):
        raise MalformedRequestError(
            f"{where} needs {size} bytes of binary data; {len(binary) - offset} are left"
        )
    raw = memoryview(binary)[offset : offset + size]
    return from_raw(item.name, item.datatype, item.shape, raw, where=where), size


def _flag(parameters: dict[str, Any], key: str, where: str, default: bool = False) -> bool:
    value = parameters.get(key, default)
    if not isinstance(value, bool):
        raise MalformedRequestError(f"{where}: parameter {key} must be true or false")
    return value


def _why(exc: ValueError) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}"
            for error in exc.errors()[:5]
        )
    return str(exc)[:200]
