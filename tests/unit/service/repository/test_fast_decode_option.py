"""model.toml ``[input] fast_decode``: off unless a model asks for it, and only as a boolean."""

from __future__ import annotations

import pytest

from service.repository.errors import ModelConfigError
from service.repository.spec import resolve_spec
from tests.unit.service.repository.test_spec import config, signature, ultralytics


def test_fast_decode_is_off_by_default_and_on_when_a_model_asks() -> None:
    exported = signature(metadata=ultralytics())
    assert resolve_spec(None, exported, None).input.fast_decode is False
    assert resolve_spec(config("[input]\n"), exported, None).input.fast_decode is False
    asked = config("[input]\nfast_decode = true\n")
    assert resolve_spec(asked, exported, None).input.fast_decode is True


def test_fast_decode_must_be_a_boolean() -> None:
    with pytest.raises(ModelConfigError, match="fast_decode"):
        config('[input]\nfast_decode = "yes"\n')
