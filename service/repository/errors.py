"""The repository's own exception types, so the API can map each to a precise answer."""

from service.errors import ServiceError


class RepositoryError(ServiceError):
    """Base class: the model repository or its catalog cannot be used as it is."""


class ModelConfigError(RepositoryError, ValueError):
    """A model's configuration (model.toml, labels.txt, ONNX metadata) is invalid or incomplete.

    The message names the file, the key (dotted path) and what is allowed.
    """


class CatalogError(RepositoryError, ValueError):
    """catalog.toml is invalid, or a requested model is not in it."""


class PullError(RepositoryError):
    """One or more files could not be fetched and verified; nothing unverified was kept."""
