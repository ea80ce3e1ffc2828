"""A real model repository for integration tests: the bundled configs, pulled from shared/models."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.repository import load_catalog, pull
from service.repository.catalog import bundled_catalog_path


@pytest.fixture(scope="session")
def pulled_models_dir(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every catalog model pulled (verified by sha256) from the shared mirror into a temp repo."""
    target = tmp_path_factory.mktemp("models")
    pull(load_catalog(bundled_catalog_path()), [], target, source=str(models_dir), everything=True)
    return target
