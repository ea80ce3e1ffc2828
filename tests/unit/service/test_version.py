"""The version the service reports is pyproject.toml's, not a copy of it."""

import tomllib

from service.version import VERSION
from tests.conftest import REPO_ROOT


def test_version_is_pyproject_version() -> None:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["version"] == VERSION
