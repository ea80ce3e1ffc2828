"""The gRPC messages of ``inference.proto``, built when the gRPC server starts.

The ``.proto`` file is the one source: ``grpc_tools`` (the ``grpc`` extra) compiles it to a
descriptor set, loaded into a descriptor pool of our own rather than protobuf's default one,
so that a process which also imports tritonclient's generated ``inference.*`` messages (a test,
a sidecar) has no clash of names. No generated code is kept in the repository.
"""

from __future__ import annotations

import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PROTO = Path(__file__).with_name("inference.proto")
PACKAGE = "inference"
SERVICE = f"{PACKAGE}.GRPCInferenceService"


class ProtoCompileError(RuntimeError):
    """``inference.proto`` did not compile (a broken install, never a request)."""


@cache
def _file() -> Any:
    """``inference.proto`` compiled into a descriptor pool of its own."""
    pool = descriptor_pool.DescriptorPool()
    for file in _descriptor_set().file:
        pool.Add(file)
    return pool.FindFileByName(PROTO.name)


@cache
def message(name: str) -> Any:
    """The message class ``name`` of the package (``ModelInferResponse``, or a nested one:
    ``ModelInferResponse.InferOutputTensor``)."""
    outer, *nested = name.split(".")
    descriptor = _file().message_types_by_name[outer]
    for part in nested:
        descriptor = descriptor.nested_types_by_name[part]
    return message_factory.GetMessageClass(descriptor)


def methods() -> list[tuple[str, Any, Any]]:
    """The service's methods in ``.proto`` order: name, request class, response class."""
    service = _file().services_by_name[SERVICE.removeprefix(PACKAGE + ".")]
    return [
        (
            method.name,
            message_factory.GetMessageClass(method.input_type),
            message_factory.GetMessageClass(method.output_type),
        )
        for method in service.methods
    ]


def _descriptor_set() -> descriptor_pb2.FileDescriptorSet:
    from grpc_tools import protoc  # the grpc extra; imported only when gRPC is served

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "inference.pb"
        args = ["protoc", f"-I{PROTO.parent}", f"--descriptor_set_out={out}", PROTO.name]
        if protoc.main(args) != 0 or not out.is_file():
            raise ProtoCompileError(f"{PROTO} does not compile; see protoc's message above")
        return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
