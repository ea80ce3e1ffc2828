"""``VISION_REQUIRE_GPU=true``: find out before serving whether a GPU is really usable.

Models load in a background thread after the server listens, so a provider failure there only
turns readiness 503 for good; an operator who asked for a GPU wants the process to stop instead.
This loads one model of the repository with the configured providers, as serving would, and
lets ``ModelSession`` raise ``ProviderUnavailableError`` when it would run on the CPU.
"""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

from service.runtime.providers import ProviderOptions, choose_providers
from service.runtime.session import ModelSession
from service.settings import Settings


def check_gpu_usable(settings: Settings) -> None:
    """Return when a GPU provider is available and runs a model of ``settings.models_dir``;
    raise ``ProviderUnavailableError`` (one line, the reason) otherwise."""
    choose_providers(
        settings.providers,
        ort.get_available_providers(),
        ProviderOptions.from_settings(settings),
        known=ort.get_all_providers(),
        require_gpu=True,
    )
    sample = _first_model(settings.models_dir)
    if sample is not None:
        ModelSession(sample, settings.model_copy(update={"require_gpu": True}))


def _first_model(models_dir: Path) -> Path | None:
    found = sorted(models_dir.glob("*/*.onnx")) if models_dir.is_dir() else []
    return found[0] if found else None
