"""What the deploy tests share: the files under ``deploy/``, the settings' real names, the image's
environment as the Dockerfile sets it, and compose's variable interpolation.

The manifests are checked against the code they configure, so a renamed setting or route fails
here instead of in someone's cluster.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from service.settings import Settings
from tests.conftest import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
NGINX = DEPLOY / "nginx"

_INTERPOLATION = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")


def setting_names() -> set[str]:
    """Every environment variable the service reads: ``VISION_`` + a Settings field."""
    return {"VISION_" + name.upper() for name in Settings.model_fields}


def yaml_documents(path: Path) -> list[dict[str, Any]]:
    """The non-empty YAML documents of ``path``."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def image_environment(stage: str) -> dict[str, str]:
    """The ``VISION_*`` variables the Dockerfile's ``ENV`` sets in ``stage`` (``cpu``, ``gpu``)."""
    text = (REPO_ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    in_stage = False
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("FROM "):
            in_stage = line.split()[-1] == stage
        elif in_stage and line.startswith("ENV "):
            env |= dict(re.findall(r"(VISION_\w+)=(\S+)", line))
    return env


def interpolate(value: str, variables: Mapping[str, str]) -> str:
    """Compose's ``${NAME}``, ``${NAME:-default}`` and ``${NAME:?error}`` with ``variables``."""

    def one(match: re.Match[str]) -> str:
        name, kind, rest = match.groups()
        if variables.get(name):
            return variables[name]
        if kind == "-":
            return rest
        raise KeyError(f"${{{name}}} is unset" + (f": {rest}" if kind == "?" else ""))

    return _INTERPOLATION.sub(one, value)
