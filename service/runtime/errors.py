"""The runtime's exception types: onnxruntime's own exceptions never leave ``service.runtime``."""

from service.errors import ServiceError


class ModelLoadError(ServiceError):
    """An ONNX file could not be read or turned into a session; the message names the file."""


class InputMismatchError(ServiceError, ValueError):
    """A tensor fed to a model has the wrong name, dtype, rank or size for its graph input."""


class InferenceError(ServiceError):
    """onnxruntime failed while running a model on inputs that matched its signature."""


class ProviderUnavailableError(ServiceError):
    """``require_gpu`` is set but a model would run, or runs, on the CPU only."""
