"""Tiny ONNX graphs built with ``onnx.helper``, so no model binary is ever committed.

Shapes take ints for static axes, strings for symbolic (dynamic) axes and None for unknown ones,
as ``onnx.helper.make_tensor_value_info`` does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper

OPSET = 17
Shape = Sequence[int | str | None]


def tensor(name: str, shape: Shape, dtype: Any = np.float32) -> onnx.ValueInfoProto:
    """A graph input or output description of numpy ``dtype``."""
    elem_type = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    return helper.make_tensor_value_info(name, elem_type, list(shape))


def build(
    nodes: Sequence[onnx.NodeProto],
    inputs: Sequence[onnx.ValueInfoProto],
    outputs: Sequence[onnx.ValueInfoProto],
    *,
    initializers: Sequence[onnx.TensorProto] = (),
    metadata: Mapping[str, str] | None = None,
) -> onnx.ModelProto:
    """A checked model from its parts; ``metadata`` becomes the custom metadata map."""
    graph = helper.make_graph(
        list(nodes), "test", list(inputs), list(outputs), initializer=list(initializers)
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    helper.set_model_props(model, dict(metadata or {}))
    onnx.checker.check_model(model)
    return model


def identity_model(
    shape: Shape,
    dtype: Any = np.float32,
    *,
    input_name: str = "x",
    output_name: str = "y",
    metadata: Mapping[str, str] | None = None,
) -> onnx.ModelProto:
    """``y = x``: one input, one output of the same shape and dtype."""
    return build(
        [helper.make_node("Identity", [input_name], [output_name])],
        [tensor(input_name, shape, dtype)],
        [tensor(output_name, shape, dtype)],
        metadata=metadata,
    )


def sum_model(shape: Shape, dtype: Any = np.float32) -> onnx.ModelProto:
    """``sum = a + b``: a model with two inputs."""
    return build(
        [helper.make_node("Add", ["a", "b"], ["sum"])],
        [tensor("a", shape, dtype), tensor("b", shape, dtype)],
        [tensor("sum", shape, dtype)],
    )


def save(model: onnx.ModelProto, path: Path) -> Path:
    """Write ``model`` to ``path`` (parents created) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())
    return path
