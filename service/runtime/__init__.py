"""The only place that touches onnxruntime: sessions, provider choice and their error types."""

from service.runtime.errors import (
    InferenceError,
    InputMismatchError,
    ModelLoadError,
    ProviderUnavailableError,
)
from service.runtime.providers import (
    GPU_PROVIDERS,
    ProviderChoice,
    ProviderOptions,
    check_fallback,
    choose_providers,
)
from service.runtime.session import ModelSession, session_options

__all__ = [
    "GPU_PROVIDERS",
    "InferenceError",
    "InputMismatchError",
    "ModelLoadError",
    "ModelSession",
    "ProviderChoice",
    "ProviderOptions",
    "ProviderUnavailableError",
    "check_fallback",
    "choose_providers",
    "session_options",
]
