"""The Dockerfile's CPU image, reproduced without a Docker engine: its COPY steps into a fresh
app folder, its ``pip install`` into a fresh venv, its model pull from the shared mirror, its
ENV and CMD to start the service, and its HEALTHCHECK command against the running server.

Everything is read from the Dockerfile, so a change there is what gets tested. Container paths
under the WORKDIR are mapped to a temporary folder; the listening address stays on loopback.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO_ROOT
from tests.e2e.conftest import clean_environment, free_port, running_server

STAGE = "cpu"
_INSTALL_TIMEOUT_S = 300
# Variables of the developer's own Python setup that a container would not have.
_HOST_ONLY = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")


# ---------------------------------------------------------------- reading the Dockerfile


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


@dataclass(frozen=True)
class Recipe:
    """What one stage of the Dockerfile does, as far as running the service goes."""

    workdir: str
    env: dict[str, str]
    copies: list[tuple[list[str], str]]  # (sources in the context, destination), in order
    install: str  # the RUN that pip-installs the project
    pull: str  # the `python -m service pull ...` command of the model RUN
    healthcheck: str  # the HEALTHCHECK's shell command
    cmd: list[str]


def instructions(text: str) -> list[Instruction]:
    """Dockerfile lines with continuations joined and comments dropped."""
    result: list[Instruction] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, args = (pending + stripped).partition(" ")
        result.append(Instruction(keyword.upper(), " ".join(args.split())))
        pending = ""
    return result


def read_recipe(dockerfile: Path, stage: str) -> Recipe:
    steps = _stage(instructions(dockerfile.read_text()), stage)
    env: dict[str, str] = {}
    copies: list[tuple[list[str], str]] = []
    workdir, install, pull, healthcheck, cmd = "/", None, None, None, None
    for step in steps:
        if step.keyword == "ENV":
            for pair in shlex.split(step.args):
                key, sep, value = pair.partition("=")
                assert sep, f"ENV without '=' is not understood here: {step.args}"
                env[key] = value
        elif step.keyword == "WORKDIR":
            workdir = step.args
        elif step.keyword == "COPY" and install is None:  # what the install step can see
            *sources, destination = shlex.split(step.args)
            copies.append((sources, destination))
        elif step.keyword == "RUN" and "pip install" in step.args:
            install = step.args
        elif step.keyword == "RUN" and "service pull" in step.args:
            found = re.search(r"python -m service pull[^;&|]*", step.args)
            pull = found.group(0).strip() if found else None
        elif step.keyword == "HEALTHCHECK":
            healthcheck = step.args.split(" CMD ", 1)[1]
        elif step.keyword == "CMD":
            cmd = json.loads(step.args)
    assert install and pull and healthcheck and cmd, f"stage {stage!r} lacks a step: {steps}"
    return Recipe(workdir, env, copies, install, pull, healthcheck, cmd)


def _stage(steps: list[Instruction], name: str) -> list[Instruction]:
    starts = [
        i
        for i, step in enumerate(steps)
        if step.keyword == "FROM" and step.args.lower().endswith(f" as {name}")
    ]
    assert starts, f"no stage {name!r} in the Dockerfile"
    rest = steps[starts[0] + 1 :]
    end = next((i for i, step in enumerate(rest) if step.keyword == "FROM"), len(rest))
    return rest[:end]


# ---------------------------------------------------------------- doing what it says


def dockerignored(context: Path) -> list[re.Pattern[str]]:
    """``.dockerignore`` patterns as regexes over context-relative POSIX paths."""
    ignore_file = context / ".dockerignore"
    if not ignore_file.is_file():
        return []
    patterns = []
    for line in ignore_file.read_text().splitlines():
        line = line.strip().strip("/")
        if line and not line.startswith("#"):
            regex = "".join(
                {"**/": "(.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(
                    token, re.escape(token)
                )
                for token in re.findall(r"\*\*/|\*\*|\*|\?|[^*?]+", line)
            )
            patterns.append(re.compile(regex + "$"))
    return patterns


def copy_into(context: Path, sources: Sequence[str], destination: Path, as_folder: bool) -> None:
    """``COPY sources destination`` with the context's .dockerignore applied: a folder's
    contents land in ``destination``; files land in it when it is a folder (``as_folder``)."""
    ignored = dockerignored(context)

    def skip(folder: str, names: list[str]) -> set[str]:
        relative = Path(folder).relative_to(context)
        return {
            name for name in names if any(p.match((relative / name).as_posix()) for p in ignored)
        }

    for source in sources:
        path = context / source
        if path.is_dir():
            shutil.copytree(path, destination, ignore=skip, dirs_exist_ok=True)
        else:
            target = destination / path.name if as_folder else destination
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


@dataclass(frozen=True)
class Built:
    recipe: Recipe
    app: Path
    env: dict[str, str]  # the image's ENV, mapped to the temp folder, on a clean environment

    def shell(self, command: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["sh", "-c", command],
            cwd=self.app,
            env={**self.env, **extra},
            capture_output=True,
            text=True,
            timeout=_INSTALL_TIMEOUT_S,
        )


def build(recipe: Recipe, root: Path, models_source: Path) -> Built:
    app = root / "app"
    app.mkdir()

    def local(text: str) -> str:
        """A container path under the WORKDIR, as a path under ``app``."""
        return re.sub(
            rf"(?<![\w.]){re.escape(recipe.workdir.rstrip('/'))}(?=/|\b|$)", str(app), text
        )

    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    base = {k: v for k, v in clean_environment().items() if k not in _HOST_ONLY}
    env = {k: local(v) for k, v in recipe.env.items()}
    env = {**base, **env, "PATH": f"{venv / 'bin'}{os.pathsep}{base.get('PATH', '')}"}
    built = Built(recipe, app, env)
    for sources, destination in recipe.copies:
        as_folder = destination.endswith("/") or len(sources) > 1
        target = Path(local(destination)) if destination.startswith("/") else app / destination
        copy_into(REPO_ROOT, sources, target, as_folder)
    installed = built.shell(recipe.install)
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    pulled = built.shell(local(recipe.pull), src=str(models_source))
    assert pulled.returncode == 0, pulled.stderr[-3000:]
    return built


@pytest.fixture(scope="module")
def built(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Built:
    recipe = read_recipe(REPO_ROOT / "Dockerfile", STAGE)
    return build(recipe, tmp_path_factory.mktemp("container"), models_dir)


@pytest.fixture(scope="module")
def serving_env(built: Built) -> Mapping[str, str]:
    # A free port instead of 8000, and loopback rather than every interface of this machine.
    return {**built.env, "VISION_PORT": str(free_port()), "VISION_HOST": "127.0.0.1"}


@pytest.fixture(scope="module")
def container(built: Built, serving_env: Mapping[str, str]) -> Iterator[str]:
    """The recipe's CMD running; yields its base URL."""
    command = [shutil.which(built.recipe.cmd[0], path=serving_env["PATH"]) or built.recipe.cmd[0]]
    with running_server(
        command + built.recipe.cmd[1:],
        port=int(serving_env["VISION_PORT"]),
        env=serving_env,
        cwd=built.app,
        models_dir=Path(serving_env["VISION_MODELS_DIR"]),
        log=built.app.parent / "server.log",
    ) as server:
        yield server.url


# ---------------------------------------------------------------- tests


def test_the_recipe_is_read_from_the_dockerfile() -> None:
    recipe = read_recipe(REPO_ROOT / "Dockerfile", STAGE)

    assert recipe.cmd[:3] == ["python", "-m", "service"]
    assert "VISION_MODELS_DIR" in recipe.env
    assert "pip install" in recipe.install and "-e" not in shlex.split(recipe.install)
    assert "/health/" in recipe.healthcheck


def test_the_cmd_serves_the_pulled_default_models(
    container: str, serving_env: Mapping[str, str]
) -> None:
    models = httpx.get(f"{container}/models", timeout=10).json()["models"]
    status = {model["name"]: model["status"] for model in models}
    pulled = {p.parent.name for p in Path(serving_env["VISION_MODELS_DIR"]).glob("*/model.onnx")}

    assert pulled, "the recipe's pull put no model in VISION_MODELS_DIR"
    assert {name: status.get(name) for name in pulled} == dict.fromkeys(pulled, "ready")


def test_the_healthcheck_passes_against_the_running_server(
    container: str, built: Built, serving_env: Mapping[str, str]
) -> None:
    check = built.shell(built.recipe.healthcheck, **serving_env)

    assert check.returncode == 0, check.stderr


def test_the_healthcheck_fails_where_nothing_listens(built: Built) -> None:
    check = built.shell(built.recipe.healthcheck, VISION_PORT=str(free_port()))

    assert check.returncode != 0
