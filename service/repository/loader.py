"""Scan ``<models-dir>/<name>/{model.onnx, model.toml, labels.txt}`` into repository entries.

Scanning reads only text files, so it is cheap and needs no onnxruntime; a model whose ONNX file
has not been pulled yet is listed with status ``not pulled`` instead of failing the scan. The
runtime turns an entry into a ``ModelSpec`` with ``entry.resolve(signature)`` once the session
exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from service.repository.catalog import CATALOG_FILE, load_catalog
from service.repository.config import ModelConfig, load_config
from service.repository.errors import ModelConfigError, RepositoryError
from service.repository.metadata import ModelSignature
from service.repository.names import MODEL_NAME, MODEL_NAME_RULE
from service.repository.spec import ModelSpec, resolve_spec

CONFIG_FILE = "model.toml"
LABELS_FILE = "labels.txt"
DEFAULT_MODEL_FILE = "model.onnx"
PRESENT = "present"
NOT_PULLED = "not pulled"


@dataclass(frozen=True)
class ModelEntry:
    """One model folder: its name, its parsed model.toml and labels.txt (None when absent)."""

    name: str
    directory: Path
    config: ModelConfig | None
    labels: tuple[str, ...] | None

    @property
    def model_path(self) -> Path:
        """The ONNX file: model.toml's ``file``, else ``model.onnx``."""
        name = self.config.file if self.config and self.config.file else DEFAULT_MODEL_FILE
        return self.directory / name

    @property
    def status(self) -> str:
        """``present`` when the ONNX file exists, else ``not pulled``."""
        return PRESENT if self.model_path.is_file() else NOT_PULLED

    def resolve(self, signature: ModelSignature) -> ModelSpec:
        """Merge this entry's files with the loaded model's signature (see ``resolve_spec``)."""
        return resolve_spec(
            self.config,
            signature,
            self.labels,
            config_file=str(self.directory / CONFIG_FILE),
            model_file=str(self.model_path),
            labels_file=str(self.directory / LABELS_FILE),
        )


def scan_repository(models_dir: Path) -> list[ModelEntry]:
    """Every model folder, in catalog order first (defaults lead), then by name.

    A folder counts as a model when it holds model.toml or model.onnx; hidden folders and
    others are ignored. A bad model.toml, labels.txt or folder name raises ModelConfigError.
    """
    if not models_dir.is_dir():
        raise RepositoryError(f"{models_dir}: the models directory does not exist")
    entries = [
        read_entry(folder)
        for folder in models_dir.iterdir()
        if folder.is_dir()
        and not folder.name.startswith((".", "_"))
        and ((folder / CONFIG_FILE).is_file() or (folder / DEFAULT_MODEL_FILE).is_file())
    ]
    order = _catalog_order(models_dir)
    return sorted(entries, key=lambda e: (order.get(e.name, len(order)), e.name))


def read_entry(folder: Path) -> ModelEntry:
    """Read one model folder (its ONNX file need not exist yet)."""
    if MODEL_NAME.fullmatch(folder.name) is None:
        raise ModelConfigError(
            f"{folder}: folder name {folder.name!r} cannot be a model name; "
            f"allowed: {MODEL_NAME_RULE}"
        )
    config_path = folder / CONFIG_FILE
    labels_path = folder / LABELS_FILE
    return ModelEntry(
        name=folder.name,
        directory=folder,
        config=load_config(config_path) if config_path.is_file() else None,
        labels=read_labels(labels_path) if labels_path.is_file() else None,
    )


def read_labels(path: Path) -> tuple[str, ...]:
    """One label a line, in class-id order; trailing blank lines are ignored, inner ones refused."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelConfigError(f"{path}: cannot be read as UTF-8 text: {exc}") from exc
    while lines and not lines[-1].strip():
        lines.pop()
    labels = tuple(line.strip() for line in lines)
    for number, label in enumerate(labels, start=1):
        if not label:
            raise ModelConfigError(f"{path}: line {number} is empty; allowed: one label a line")
    if not labels:
        raise ModelConfigError(f"{path}: no labels; allowed: one label a line")
    return labels


def _catalog_order(models_dir: Path) -> dict[str, int]:
    """Position of each model in the folder's catalog.toml (empty when there is none)."""
    path = models_dir / CATALOG_FILE
    if not path.is_file():
        return {}
    return {name: i for i, name in enumerate(load_catalog(path).models)}
