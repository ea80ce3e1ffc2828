"""catalog.toml: where each downloadable model comes from, its checksum, size and licence.

```toml
[models.yolox_nano]                 # the model's folder (and `model` query value)
task = "detect"
default = true                      # pulled by a plain `python -m service pull`
licence = "Apache-2.0"
note = "..."                        # optional: provenance, restrictions
upstream = "https://github.com/..." # optional: the project the weights come from

[[models.yolox_nano.files]]
file = "yolox_nano.onnx"            # name in a mirror (directory or HTTP base URL)
save_as = "model.onnx"              # name inside the model's folder (default model.onnx)
url = "https://..."                 # optional: where exactly these bytes are published
sha256 = "e8af0749..."
size = 3678356
derive = "dequantize-qdq"           # optional, with [from]: made by pull from an original
[models.NAME.files.from]            # the published original: file, url, sha256, size
```

A derived file (``derive`` + ``from``) is fetched from a mirror by its ``file`` name like any
other; without a mirror ``pull`` fetches ``from``, checks it, applies the recipe
(:mod:`service.repository.derive`) and checks the result against ``sha256``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from service.repository.config import Task
from service.repository.errors import CatalogError
from service.repository.names import FILE_NAME_PATTERN, MODEL_NAME, MODEL_NAME_RULE
from service.repository.validation import read_toml, validation_message

CATALOG_FILE = "catalog.toml"
FileName = Annotated[str, Field(pattern=FILE_NAME_PATTERN)]


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


Url = Annotated[str, Field(pattern=r"^https?://\S+$")]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Size = Annotated[int, Field(gt=0)]


class CatalogOrigin(_Table):
    """The published file a derived one is made from."""

    file: FileName
    url: Url
    sha256: Sha256
    size: Size


class CatalogFile(_Table):
    """One file to fetch into a model's folder (or to derive from its ``from`` original)."""

    file: FileName
    save_as: FileName = "model.onnx"
    url: Url | None = None
    sha256: Sha256
    size: Size
    derive: Literal["dequantize-qdq"] | None = None
    origin: CatalogOrigin | None = Field(default=None, alias="from")

    @model_validator(mode="after")
    def _derive_needs_an_origin(self) -> CatalogFile:
        if (self.derive is None) != (self.origin is None):
            raise ValueError("derive and from go together: a recipe and the file it starts from")
        return self


class CatalogModel(_Table):
    """One downloadable model: its files, licence and whether it is in the default set."""

    task: Task
    licence: Annotated[str, Field(min_length=1)]
    default: bool = False
    note: str | None = None
    upstream: str | None = None
    files: Annotated[list[CatalogFile], Field(min_length=1)]

    @field_validator("files")
    @classmethod
    def _distinct_targets(cls, files: list[CatalogFile]) -> list[CatalogFile]:
        targets = [f.save_as for f in files]
        if len(set(targets)) != len(targets):
            raise ValueError(f"two files are saved under the same name: {targets}")
        return files


class _CatalogTable(_Table):
    models: dict[str, CatalogModel]


@dataclass(frozen=True)
class Catalog:
    """A parsed catalog; ``path`` locates the bundled model folders beside it."""

    path: Path
    models: dict[str, CatalogModel]

    def select(self, names: Sequence[str] = (), *, everything: bool = False) -> list[str]:
        """The models to pull: ``names``, else all with ``everything``, else the default set."""
        if everything:
            return list(self.models)
        if not names:
            return [name for name, model in self.models.items() if model.default]
        unknown = [name for name in names if name not in self.models]
        if unknown:
            raise CatalogError(
                f"{self.path}: no model named {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(self.models)}"
            )
        return list(dict.fromkeys(names))


def load_catalog(path: Path) -> Catalog:
    """Read and validate catalog.toml; refusals name the file, the key and what is allowed."""
    data = read_toml(path, CatalogError)
    try:
        table = _CatalogTable.model_validate(data)
    except ValidationError as exc:
        raise CatalogError(f"{path}: {validation_message(exc, _CatalogTable)}") from exc
    for name in table.models:
        if MODEL_NAME.fullmatch(name) is None:
            raise CatalogError(
                f"{path}: models.{name} cannot be a model name; allowed: {MODEL_NAME_RULE}"
            )
    return Catalog(path=path, models=table.models)


def bundled_catalog_path() -> Path:
    """The repository's own ``models/catalog.toml`` (beside the ``service`` package)."""
    return Path(__file__).resolve().parents[2] / "models" / CATALOG_FILE
