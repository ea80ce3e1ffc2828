"""A ready model as the Open Inference Protocol serves it: raw tensors in, raw tensors out.

What the HTTP routes and the gRPC service share: the model's tensors as the protocol describes
them (``-1`` for a dynamic dimension), its metadata and Triton model configuration, and one
``infer`` that checks a request's tensors against the graph (names, datatype, shape) before the
model's onnxruntime session, shared with every other route, runs them. Every refusal here is a
client error (400), worded after the model, never after a file on the server.
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from numpy.typing import NDArray

from service.api.errors import MalformedRequestError
from service.api.oip.datatypes import NUMPY_DTYPES, config_type, datatype_of
from service.api.oip.tensors import Tensor
from service.errors import ServiceError
from service.pipelines.protocol import Models
from service.pipelines.registry import UnknownModelError

#: Each model has one version; a request may name it or leave it out.
VERSION = "1"
PLATFORM = "onnxruntime_onnx"
SERVER_NAME = "vision-service"
#: What ``GET /v2`` lists: binary tensors over HTTP, and ``GET .../config``.
EXTENSIONS = ("binary_tensor_data", "model_configuration")
#: Request parameters of extensions not served (shared memory, classification): refused.
UNSERVED_PARAMETERS = (
    "shared_memory_region",
    "shared_memory_byte_size",
    "shared_memory_offset",
    "classification",
)


@dataclass(frozen=True)
class TensorSpec:
    """A graph input or output: name, datatype, and shape with ``-1`` for dynamic sizes."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    def metadata(self) -> dict[str, Any]:
        """The tensor as model metadata lists it."""
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}

    def config(self) -> dict[str, Any]:
        """The tensor as Triton's model configuration lists it (``data_type``, ``dims``)."""
        return {
            "name": self.name,
            "data_type": config_type(self.datatype),
            "dims": list(self.shape),
        }

    def accepts(self, shape: Sequence[int]) -> bool:
        """Whether a tensor of ``shape`` fits: same rank, same size on every static axis."""
        return len(shape) == len(self.shape) and all(
            want == -1 or want == got for want, got in zip(self.shape, shape, strict=True)
        )


class ServedModel:
    """One ready model of the registry, seen through its onnxruntime session."""

    def __init__(self, models: Models, name: str, version: str | None = None) -> None:
        """The ready model ``name``: 404 for an unknown model or version, 503 until ready."""
        session = models.session(name)
        check_version(name, version)
        signature = session.signature()
        self.name = name
        self.inputs = tuple(_spec(tensor) for tensor in signature.inputs)
        self.outputs = tuple(_spec(tensor) for tensor in signature.outputs)
        self.metadata: Mapping[str, str] = dict(signature.metadata)
        self._session = session

    def describe(self) -> dict[str, Any]:
        """Model metadata: name, versions, platform, inputs and outputs."""
        return {
            "name": self.name,
            "versions": [VERSION],
            "platform": PLATFORM,
            "inputs": [spec.metadata() for spec in self.inputs],
            "outputs": [spec.metadata() for spec in self.outputs],
        }

    def config(self) -> dict[str, Any]:
        """Triton's model configuration, as much as clients read: the tensors (batch
        dimension included, so ``max_batch_size`` 0) and, for a file with metadata, the
        ONNX metadata as ``parameters.metadata.string_value``."""
        config: dict[str, Any] = {
            "name": self.name,
            "platform": PLATFORM,
            "backend": "onnxruntime",
            "version_policy": {"latest": {"num_versions": 1}},
            "max_batch_size": 0,
            "input": [spec.config() for spec in self.inputs],
            "output": [spec.config() for spec in self.outputs],
        }
        if self.metadata:
            config["parameters"] = {"metadata": {"string_value": metadata_literal(self.metadata)}}
        return config

    def infer(self, inputs: Sequence[Tensor], outputs: Sequence[str] | None) -> list[Tensor]:
        """Run the model on ``inputs``; the ``outputs`` named (default: all, graph order)."""
        wanted = self._wanted(outputs)
        feeds = self._feeds(inputs)
        try:
            arrays = self._session.run(feeds)
        except ServiceError as exc:  # onnxruntime refused these tensors, e.g. a bad dynamic size
            detail = str(exc).replace(str(self._session.path), f"model {self.name!r}")
            raise MalformedRequestError(detail) from exc
        produced = {spec.name: array for spec, array in zip(self.outputs, arrays, strict=True)}
        return [Tensor(name, produced[name]) for name in wanted]

    def _feeds(self, inputs: Sequence[Tensor]) -> dict[str, NDArray[Any]]:
        specs = {spec.name: spec for spec in self.inputs}
        feeds: dict[str, NDArray[Any]] = {}
        for tensor in inputs:
            spec = specs.get(tensor.name)
            where = f"input {tensor.name!r} of model {self.name!r}"
            if spec is None:
                raise MalformedRequestError(
                    f"{where}: no such input; inputs: {_names(self.inputs)}"
                )
            if tensor.name in feeds:
                raise MalformedRequestError(f"{where}: given twice")
            if tensor.datatype != spec.datatype:
                raise MalformedRequestError(
                    f"{where} is {tensor.datatype}; the model takes {spec.datatype}"
                )
            if not spec.accepts(tensor.array.shape):
                raise MalformedRequestError(
                    f"{where} has shape {list(tensor.array.shape)}; the model takes "
                    f"{list(spec.shape)} (-1: any size)"
                )
            feeds[tensor.name] = tensor.array
        missing = [spec.name for spec in self.inputs if spec.name not in feeds]
        if missing:
            raise MalformedRequestError(
                f"model {self.name!r} takes inputs {_names(self.inputs)}; missing: {missing}"
            )
        return feeds

    def _wanted(self, outputs: Sequence[str] | None) -> list[str]:
        names = [spec.name for spec in self.outputs]
        wanted = names if outputs is None else list(outputs)
        unknown = [name for name in wanted if name not in names]
        if unknown:
            raise MalformedRequestError(
                f"model {self.name!r} has no output {unknown[0]!r}; outputs: {names}"
            )
        datatypes = {spec.name: spec.datatype for spec in self.outputs}
        for name in wanted:
            if datatypes[name] not in NUMPY_DTYPES:  # e.g. strings: ask for the others
                raise MalformedRequestError(
                    f"output {name!r} of model {self.name!r} is {datatypes[name]}, which is not "
                    f"served; request the other outputs by name"
                )
        return wanted


def check_version(name: str, version: str | None) -> None:
    """404 unless ``version`` is absent, empty or the one version every model has."""
    if version not in (None, "", VERSION):
        raise UnknownModelError(f"model {name!r} has no version {version!r}; versions: {VERSION}")


def refuse_unserved(parameters: Container[str], where: str) -> None:
    """400 for a parameter of an extension this server does not serve, rather than an answer
    that silently ignores it."""
    for key in UNSERVED_PARAMETERS:
        if key in parameters:
            raise MalformedRequestError(
                f"{where}: parameter {key} belongs to an extension this server does not serve"
            )


def metadata_literal(metadata: Mapping[str, str]) -> str:
    """The ONNX file's metadata map as a Python dict literal: what Ultralytics'
    ``TritonRemoteModel`` reads back with ``ast.literal_eval`` and then treats exactly as the
    metadata of a local ONNX file (its values are the same strings)."""
    return repr(dict(metadata))


def _spec(tensor: Any) -> TensorSpec:
    """A graph tensor (the session's ``TensorInfo``) as the protocol describes it."""
    shape = tuple(dim if isinstance(dim, int) and dim > 0 else -1 for dim in tensor.shape)
    return TensorSpec(tensor.name, datatype_of(tensor.numpy_dtype, tensor.dtype), shape)


def _names(specs: Sequence[TensorSpec]) -> list[str]:
    return [spec.name for spec in specs]
