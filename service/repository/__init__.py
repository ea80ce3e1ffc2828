"""The model repository: model.toml schema, ONNX-metadata defaults, folder scan, catalog and pull.

Reads only text files and plain data; onnxruntime stays in ``service.runtime``, which hands a
``ModelSignature`` to ``ModelEntry.resolve`` to get a ``ModelSpec``.
"""

from service.repository.catalog import Catalog, CatalogFile, CatalogModel, load_catalog
from service.repository.config import ModelConfig, load_config, parse_config
from service.repository.errors import (
    CatalogError,
    ModelConfigError,
    PullError,
    RepositoryError,
)
from service.repository.loader import ModelEntry, read_labels, scan_repository
from service.repository.metadata import ModelSignature, TensorInfo
from service.repository.pull import Pulled, TextProgress, pull
from service.repository.spec import InputSpec, ModelSpec, OutputSpec, PostprocessSpec, resolve_spec

__all__ = [
    "Catalog",
    "CatalogError",
    "CatalogFile",
    "CatalogModel",
    "InputSpec",
    "ModelConfig",
    "ModelConfigError",
    "ModelEntry",
    "ModelSignature",
    "ModelSpec",
    "OutputSpec",
    "PostprocessSpec",
    "PullError",
    "Pulled",
    "RepositoryError",
    "TensorInfo",
    "TextProgress",
    "load_catalog",
    "load_config",
    "parse_config",
    "pull",
    "read_labels",
    "resolve_spec",
    "scan_repository",
]
