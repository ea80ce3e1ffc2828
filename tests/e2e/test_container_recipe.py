"""The Dockerfile reproduced without a Docker engine: the build context its .dockerignore
leaves, the ``wheel`` stage (its COPY steps, ``pip wheel``), the CPU image (COPY from the wheel
stage and of the model configs, ``pip install`` of the wheel into a fresh venv, the model pull
from the shared mirror), its ENV and CMD to start the service, and its HEALTHCHECK command
against the running server; plus the shape of the recipe itself (multi-stage, no ``COPY .``).

Everything is read from the Dockerfile, so a change there is what gets tested. Container paths
under the WORKDIR are mapped to a temporary folder per stage; the address stays on loopback.
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
WHEEL_STAGE = "wheel"
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
    copies: list[Copy]  # what the install step can see, in order
    install: str  # the RUN that pip-installs the project (or builds its wheel)
    pull: str | None  # the `python -m service pull ...` command of the model RUN
    healthcheck: str | None  # the HEALTHCHECK's shell command
    cmd: list[str] | None


@dataclass(frozen=True)
class Copy:
    sources: list[str]
    destination: str
    stage: str | None  # COPY --from=STAGE, else the build context


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


def read_recipe(dockerfile: Path, stage: str, *, final: bool = True) -> Recipe:
    """One stage's recipe; a ``final`` stage must also pull, check its health and run."""
    steps = _stage(instructions(dockerfile.read_text()), stage)
    env: dict[str, str] = {}
    copies: list[Copy] = []
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
            origin = sources.pop(0).removeprefix("--from=") if sources[0].startswith("--") else None
            copies.append(Copy(sources, destination, origin))
        elif step.keyword == "RUN" and re.search(r"pip (install|wheel)", step.args) and not install:
            install = step.args
        elif step.keyword == "RUN" and "service pull" in step.args:
            found = re.search(r"python -m service pull[^;&|]*", step.args)
            pull = found.group(0).strip() if found else None
        elif step.keyword == "HEALTHCHECK":
            healthcheck = step.args.split(" CMD ", 1)[1]
        elif step.keyword == "CMD":
            cmd = json.loads(step.args)
    assert install, f"stage {stage!r} installs nothing: {steps}"
    assert not final or (pull and healthcheck and cmd), f"stage {stage!r} lacks a step: {steps}"
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


def dockerignored(context: Path) -> list[tuple[re.Pattern[str], bool]]:
    """``.dockerignore`` patterns, in order, as (regex over context-relative POSIX paths,
    negated by ``!``)."""
    ignore_file = context / ".dockerignore"
    if not ignore_file.is_file():
        return []
    patterns = []
    for line in ignore_file.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        line = line.removeprefix("!").strip("/")
        regex = "".join(
            {"**/": "(.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(token, re.escape(token))
            for token in re.findall(r"\*\*/|\*\*|\*|\?|[^*?]+", line)
        )
        patterns.append((re.compile(regex + "$"), negated))
    return patterns


def in_context(relative: str, patterns: Sequence[tuple[re.Pattern[str], bool]]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for regex, negated in patterns:
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            excluded = not negated
    return not excluded


def build_context(context: Path) -> list[str]:
    """Every file ``docker build`` would send, context-relative."""
    patterns = dockerignored(context)
    sent = []
    for folder, dirs, files in os.walk(context):
        relative = Path(folder).relative_to(context)
        dirs[:] = [d for d in dirs if _any_inside(relative / d, patterns)]
        sent += [
            (relative / name).as_posix()
            for name in files
            if in_context((relative / name).as_posix(), patterns)
        ]
    return sorted(sent)


def _any_inside(folder: Path, patterns: Sequence[tuple[re.Pattern[str], bool]]) -> bool:
    """Whether a walk must enter ``folder``: it is in the context, or a later ``!`` pattern
    could bring something under it back (Docker walks it then too)."""
    return in_context(folder.as_posix(), patterns) or any(negated for _, negated in patterns)


def copy_into(context: Path, sources: Sequence[str], destination: Path, as_folder: bool) -> None:
    """``COPY sources destination`` from the build context: a folder's contents land in
    ``destination``; files land in it when it is a folder (``as_folder``)."""
    sent = set(build_context(context)) if (context / ".dockerignore").is_file() else None
    for source in sources:
        path = context / source
        if path.is_dir():
            for file in sorted(path.rglob("*")):
                relative = file.relative_to(context).as_posix()
                if file.is_file() and (sent is None or relative in sent):
                    target = destination / file.relative_to(path)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(file, target)
        else:
            target = destination / path.name if as_folder else destination
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


@dataclass(frozen=True)
class Built:
    recipe: Recipe
    app: Path
    env: dict[str, str]  # the image's ENV, mapped to the temp folder, on a clean environment

    def local(self, text: str) -> str:
        """Container paths under the WORKDIR, as paths under ``app``."""
        workdir = re.escape(self.recipe.workdir.rstrip("/"))
        return re.sub(rf"(?<![\w.]){workdir}(?=/|\b|$)", str(self.app), text)

    def shell(self, command: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["sh", "-c", command],
            cwd=self.app,
            env={**self.env, **extra},
            capture_output=True,
            text=True,
            timeout=_INSTALL_TIMEOUT_S,
        )


def build(dockerfile: Path, root: Path, models_source: Path) -> Built:
    """The wheel stage, then the CPU image from it, each in its own folder, one venv."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    stages: dict[str, Built] = {}
    for name, final in ((WHEEL_STAGE, False), (STAGE, True)):
        recipe = read_recipe(dockerfile, name, final=final)
        stages[name] = _run_stage(recipe, root / name, venv, stages)
    built = stages[STAGE]
    assert built.recipe.pull is not None
    pulled = built.shell(built.local(built.recipe.pull), MODELS_SOURCE=str(models_source))
    assert pulled.returncode == 0, pulled.stderr[-3000:]
    return built


def _run_stage(recipe: Recipe, root: Path, venv: Path, earlier: Mapping[str, Built]) -> Built:
    app = root / "app"
    app.mkdir(parents=True)
    base = {k: v for k, v in clean_environment().items() if k not in _HOST_ONLY}
    built = Built(recipe, app, {})
    env = {k: built.local(v) for k, v in recipe.env.items()}
    env = {**base, **env, "PATH": f"{venv / 'bin'}{os.pathsep}{base.get('PATH', '')}"}
    built = Built(recipe, app, env)
    for copy in recipe.copies:
        as_folder = copy.destination.endswith("/") or len(copy.sources) > 1
        dest = copy.destination
        target = Path(built.local(dest)) if dest.startswith("/") else app / dest
        if copy.stage is None:
            copy_into(REPO_ROOT, copy.sources, target, as_folder)
        else:
            source = earlier[copy.stage]
            for path in copy.sources:
                shutil.copytree(source.local(path), target, dirs_exist_ok=True)
    installed = built.shell(built.local(recipe.install))
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    return built


@pytest.fixture(scope="module")
def built(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build(REPO_ROOT / "Dockerfile", tmp_path_factory.mktemp("container"), models_dir)


@pytest.fixture(scope="module")
def serving_env(built: Built) -> Mapping[str, str]:
    # A free port instead of 8000, and loopback rather than every interface of this machine.
    return {**built.env, "VISION_PORT": str(free_port()), "VISION_HOST": "127.0.0.1"}


@pytest.fixture(scope="module")
def container(built: Built, serving_env: Mapping[str, str]) -> Iterator[str]:
    """The recipe's CMD running; yields its base URL."""
    cmd = built.recipe.cmd
    assert cmd is not None
    command = [shutil.which(cmd[0], path=serving_env["PATH"]) or cmd[0]]
    with running_server(
        command + cmd[1:],
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

    assert recipe.cmd is not None and recipe.cmd[:3] == ["python", "-m", "service"]
    assert "VISION_MODELS_DIR" in recipe.env
    assert "pip install" in recipe.install and "-e" not in shlex.split(recipe.install)
    assert recipe.healthcheck is not None and "/health/ready" in recipe.healthcheck


@pytest.mark.parametrize("image", [STAGE, "gpu"])
def test_images_install_a_wheel_and_copy_no_sources(image: str) -> None:
    """Multi-stage: only the wheel stage sees the sources; no ``COPY .`` anywhere."""
    steps = _stage(instructions((REPO_ROOT / "Dockerfile").read_text()), image)
    copies = [shlex.split(step.args) for step in steps if step.keyword == "COPY"]

    assert ["--from=wheel", "/app/wheels", "./wheels"] in copies
    assert [args for args in copies if not args[0].startswith("--from=")] == [
        ["models", "./models"]  # the configs and catalog; .dockerignore keeps *.onnx out
    ]
    wheel = read_recipe(REPO_ROOT / "Dockerfile", WHEEL_STAGE, final=False)
    assert "pip wheel" in wheel.install
    every = instructions((REPO_ROOT / "Dockerfile").read_text())
    assert not [s for s in every if s.keyword in ("COPY", "ADD") and s.args.split()[0] == "."]


@pytest.mark.parametrize("image", [STAGE, "gpu"])
def test_the_healthcheck_is_readiness_with_a_start_period(image: str) -> None:
    steps = _stage(instructions((REPO_ROOT / "Dockerfile").read_text()), image)
    (check,) = [step.args for step in steps if step.keyword == "HEALTHCHECK"]

    assert "/health/ready" in check and "/health/live" not in check
    start = re.search(r"--start-period=(\d+)s", check)
    assert start is not None and int(start.group(1)) >= 60  # loading + warming the models


def test_the_gpu_image_pins_onnxruntime_gpu_and_does_not_ask_for_tensorrt() -> None:
    """No TensorRT libraries in the image: asking for its provider would only fall back."""
    steps = _stage(instructions((REPO_ROOT / "Dockerfile").read_text()), "gpu")
    runs = " ".join(step.args for step in steps if step.keyword == "RUN")
    env = read_recipe(REPO_ROOT / "Dockerfile", "gpu").env

    assert re.search(r"onnxruntime-gpu==\d+\.\d+\.\d+", runs)
    assert "Tensorrt" not in env["VISION_PROVIDERS"] and "tensorrt" not in runs.lower()
    assert "TensorRT is unavailable" in (REPO_ROOT / "Dockerfile").read_text()


def test_the_build_context_keeps_out_data_environments_tests_and_models() -> None:
    sent = build_context(REPO_ROOT)

    assert "service/api/app.py" in sent and "models/catalog.toml" in sent and "LICENSE" in sent
    kept_out = ("data/", ".venv/", "tests/", "docs/", "shared/", ".git/", "bench/")
    assert [path for path in sent if path.startswith(kept_out)] == []
    assert [path for path in sent if path.endswith((".onnx", ".pyc", ".sqlite3"))] == []
    patterns = dockerignored(REPO_ROOT)
    for secret in ("data/gallery.sqlite3", "data/faces/x.jpg", "models/yolox_nano/model.onnx"):
        assert not in_context(secret, patterns), secret  # present on this machine or not


def test_compose_runs_one_box_with_volumes_and_the_ready_check() -> None:
    compose = (REPO_ROOT / "deploy" / "compose.yaml").read_text()

    assert "models:/app/models" in compose and "gallery:/app/data" in compose
    assert "/health/ready" in compose and "start_period" in compose
    assert "context: .." in compose


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
    assert built.recipe.healthcheck is not None
    check = built.shell(built.recipe.healthcheck, **serving_env)

    assert check.returncode == 0, check.stderr


def test_the_healthcheck_fails_where_nothing_listens(built: Built) -> None:
    assert built.recipe.healthcheck is not None
    check = built.shell(built.recipe.healthcheck, VISION_PORT=str(free_port()))

    assert check.returncode != 0
