"""Shared fixtures: where the real models, photos and the ultralytics oracle live.

They sit in ``shared/`` beside the repository (override with ``VISION_SHARED_DIR``). Tests that
need them skip, saying why, when they are absent; unit tests never need them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_path() -> Path:
    """The shared data folder: ``$VISION_SHARED_DIR``, else ``../shared`` beside the repo."""
    return Path(os.environ.get("VISION_SHARED_DIR", REPO_ROOT.parent / "shared"))


def _existing(sub: str) -> Path:
    path = shared_path() / sub
    if not path.is_dir():
        pytest.skip(f"{path} is absent: set VISION_SHARED_DIR to the shared data folder")
    return path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return _existing("")


@pytest.fixture(scope="session")
def models_dir() -> Path:
    return _existing("models")


@pytest.fixture(scope="session")
def images_dir() -> Path:
    return _existing("images")


@pytest.fixture(scope="session")
def oracle_dir() -> Path:
    return _existing("oracle")
