"""Files the catalog derives from a published original, deterministically, inside ``pull``.

Some default files have no published copy of their own: the float32 MobileNetV2 is the int8
QDQ export (published) with its quantisation undone. ``pull`` fetches the original (checked
against its own size and sha256), applies the recipe named in the catalog, and checks the
result against the derived file's sha256, so a derived file is exactly as trustworthy as a
downloaded one. onnx is imported only here, when a recipe runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from service.repository.errors import PullError

DEQUANTIZE_QDQ = "dequantize-qdq"


def derive(recipe: str, original: bytes) -> bytes:
    """The derived file's bytes; a recipe this version does not know is a PullError."""
    step = RECIPES.get(recipe)
    if step is None:
        raise PullError(f"unknown derivation recipe {recipe!r}; known: {', '.join(RECIPES)}")
    return step(original)


def dequantize_qdq(original: bytes) -> bytes:
    """A QDQ-quantised ONNX model made float32, as MANIFEST.md describes the derivation:

    - every weight ``DequantizeLinear`` over an initializer becomes that float32 initializer
      (``(q - zero_point) * scale`` per output channel, exactly the int8 weights), named by
      the node's output, in node order;
    - every activation ``QuantizeLinear`` → ``DequantizeLinear`` pair becomes a ``Clip`` to the
      range the pair represented (``scale * (qmin - zp)`` .. ``scale * (qmax - zp)``), its
      bounds appended as initializers in node order;
    - the pair on a graph output becomes an ``Identity`` (its calibrated range saturated);
    - the quantiser's metadata goes. Everything else is kept as it is.
    """
    import onnx  # only when deriving: serving never needs it
    from onnx import helper, numpy_helper

    model = onnx.load_from_string(original)
    graph = model.graph
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    outputs = {output.name for output in graph.output}
    weights: list[Any] = []
    bounds: list[Any] = []
    nodes: list[Any] = []
    pending: dict[str, Any] = {}  # QuantizeLinear output -> the node, until its pair comes
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in constants:
            weights.append(numpy_helper.from_array(_dequantized(node, constants), node.output[0]))
        elif node.op_type == "QuantizeLinear":
            pending[node.output[0]] = node
        elif node.op_type == "DequantizeLinear":
            source, name = pending.pop(node.input[0]).input[0], node.output[0]
            if name in outputs:
                nodes.append(helper.make_node("Identity", [source], [name]))
                continue
            low, high = _range(constants[node.input[1]], constants[node.input[2]])
            bounds += [
                numpy_helper.from_array(low, f"{name}_clip_min"),
                numpy_helper.from_array(high, f"{name}_clip_max"),
            ]
            clip = [source, f"{name}_clip_min", f"{name}_clip_max"]
            nodes.append(helper.make_node("Clip", clip, [name]))
        else:
            nodes.append(node)
    if pending:
        raise PullError(f"the original has QuantizeLinear without its pair: {sorted(pending)}")
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(weights + bounds)
    del model.metadata_props[:]
    derived: bytes = model.SerializeToString()
    return derived


def _dequantized(node: Any, constants: dict[str, np.ndarray]) -> np.ndarray:
    values, scale, zero = (constants[name] for name in node.input[:3])
    if scale.ndim:  # per output channel (axis 0)
        shape = [-1] + [1] * (values.ndim - 1)
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    exact = (values.astype(np.int64) - zero.astype(np.int64)).astype(np.float32)
    return np.asarray(exact * scale, dtype=np.float32)


def _range(scale: np.ndarray, zero: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    info = np.iinfo(zero.dtype)
    low = np.float32(scale) * np.float32(int(info.min) - int(zero))
    high = np.float32(scale) * np.float32(int(info.max) - int(zero))
    return np.array(low, np.float32), np.array(high, np.float32)


RECIPES: dict[str, Callable[[bytes], bytes]] = {DEQUANTIZE_QDQ: dequantize_qdq}
