"""``ModelRegistry.session``: a ready model's own session, whatever its task, for raw tensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from service.pipelines.registry import ModelNotReadyError, UnknownModelError
from service.runtime.session import ModelSession
from tests.unit.service.pipelines.test_registry import make_model, registry_for


def test_session_is_refused_until_ready_then_is_the_models_own(tmp_path: Path) -> None:
    make_model(tmp_path, "colours", ["red", "green", "blue"])
    registry = registry_for(tmp_path)

    with pytest.raises(ModelNotReadyError, match="'colours' is not ready: loading"):
        registry.session("colours")
    with pytest.raises(UnknownModelError, match="no model named 'nope'; models: colours"):
        registry.session("nope")
    registry.load_all()
    session = registry.session("colours")

    assert isinstance(session, ModelSession)
    assert session is registry.session("colours")  # shared, never reopened
    (logits,) = session.run(np.full((1, 3, 8, 8), 0.5, np.float32))
    assert logits.tolist() == [[0.5, 0.5, 0.5]]


def test_a_model_that_failed_to_load_has_no_session(tmp_path: Path) -> None:
    broken = make_model(tmp_path, "garbage", ["a", "b", "c"])
    (broken / "model.onnx").write_bytes(b"not onnx")
    registry = registry_for(tmp_path)
    registry.load_all()

    with pytest.raises(ModelNotReadyError, match="'garbage' is not ready: error: "):
        registry.session("garbage")
