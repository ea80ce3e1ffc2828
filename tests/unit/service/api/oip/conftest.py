"""The API tests' app (``client``, ``make_client``) over real ``ModelSession``s of tiny graphs,
served only through ``/v2``.

- ``echo_<type>``: ``y = x`` for each datatype the issue names, shape ``[2, -1]``.
- ``pair``: two inputs (``a`` FP32 ``[1, 3]``, ``k`` INT64 ``[1]``), two outputs
  (``scaled = a * k``, ``positive = a > 0``), Ultralytics-like metadata.
- ``strided``: a dynamic-size input whose graph only takes even widths (onnxruntime refuses
  odd ones at run time).
- ``labelled``: ``y = x`` beside a string output.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from onnx import helper, numpy_helper

from service.runtime.session import ModelSession
from service.settings import Settings
from tests.onnx_graphs import build, identity_model, save, tensor
from tests.unit.service.api.fakes import FakeDetector, FakeRegistry

ECHO_TYPES = {
    "FP32": np.float32,
    "FP16": np.float16,
    "UINT8": np.uint8,
    "INT64": np.int64,
    "BOOL": np.bool_,
}
PAIR_METADATA = {
    "stride": "32",
    "task": "detect",
    "names": "{0: 'cat', 1: 'dog'}",
    "imgsz": "[640, 640]",
}


def pair_model() -> Any:
    return build(
        [
            helper.make_node(
                "Cast", ["k"], ["k_float"], to=helper.np_dtype_to_tensor_dtype(np.dtype(np.float32))
            ),
            helper.make_node("Mul", ["a", "k_float"], ["scaled"]),
            helper.make_node("Constant", [], ["zero"], value_float=0.0),
            helper.make_node("Greater", ["a", "zero"], ["positive"]),
        ],
        [tensor("a", (1, 3)), tensor("k", (1,), np.int64)],
        [tensor("scaled", (1, 3)), tensor("positive", (1, 3), np.bool_)],
        metadata=PAIR_METADATA,
    )


def strided_model() -> Any:
    """``y = x`` reshaped to pairs of columns: widths that are odd cannot be reshaped."""
    shape = helper.make_tensor("pairs", 7, [3], [1, -1, 2])  # 7: INT64
    return build(
        [helper.make_node("Reshape", ["x", "pairs"], ["y"])],
        [tensor("x", (1, "width"))],
        [tensor("y", (1, None, 2))],
        initializers=[shape],
    )


def labelled_model() -> Any:
    """``y = x`` beside a string output, a datatype the protocol routes do not send."""
    label = numpy_helper.from_array(np.array([b"cat"], dtype=object), "label_value")
    return build(
        [
            helper.make_node("Identity", ["x"], ["y"]),
            helper.make_node("Constant", [], ["label"], value=label),
        ],
        [tensor("x", (1,))],
        [tensor("y", (1,)), helper.make_tensor_value_info("label", 8, [1])],
    )


@pytest.fixture(scope="session")
def oip_sessions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModelSession]:
    root = tmp_path_factory.mktemp("oip-models")
    settings = Settings(models_dir=root, providers=["CPUExecutionProvider"])
    models = {
        f"echo_{name.lower()}": identity_model((2, "n"), dtype)
        for name, dtype in ECHO_TYPES.items()
    }
    models |= {"pair": pair_model(), "strided": strided_model(), "labelled": labelled_model()}
    return {
        name: ModelSession(save(model, root / name / "model.onnx"), settings)
        for name, model in models.items()
    }


@pytest.fixture
def registry(oip_sessions: dict[str, ModelSession]) -> FakeRegistry:
    """The API tests' registry (so their ``make_client`` and ``client`` serve it) with the
    tiny graphs as raw sessions beside a fake detector."""
    return FakeRegistry(FakeDetector(), sessions=oip_sessions)
