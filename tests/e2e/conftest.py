"""A real service for end-to-end tests: the default models pulled from shared/models with
``python -m service pull``, then ``python -m service serve`` as a subprocess on a free loopback
port, exactly as a user starts it.

Polling starts the moment the process is spawned, and every ``/health/ready`` answer is kept:
the models load in a background thread, so the first answers are 503 with each model's status.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO_ROOT
from tests.e2e.corpus import MAX_BODY_BYTES

READY_TIMEOUT_S = 120.0
_POLL_S = 0.02


@dataclass(frozen=True)
class HealthAnswer:
    status: int
    body: dict[str, Any]


@dataclass
class LiveServer:
    """A running service: its base URL, its process, and what its probes said on the way up."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path
    models_dir: Path
    live_first: HealthAnswer | None = None
    ready_answers: list[HealthAnswer] = field(default_factory=list)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def peak_rss_growth(self, action: Callable[[], object]) -> int:
        """Bytes by which the server's peak resident memory rose above its current use while
        ``action`` ran (Linux: the peak is reset through /proc/PID/clear_refs first)."""
        proc = Path("/proc") / str(self.process.pid)
        before = _status_kib(proc, "VmRSS")
        (proc / "clear_refs").write_text("5")  # 5: reset the peak RSS to the current RSS
        action()
        return (_status_kib(proc, "VmHWM") - before) * 1024


def _status_kib(proc: Path, key: str) -> int:
    for line in (proc / "status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    raise AssertionError(f"{key} missing from {proc}/status")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any ``VISION_*`` setting a developer may have
    exported, plus ``extra``: the server sees only what the test says."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("VISION_")}
    env.update(extra or {})
    return env


@contextmanager
def running_server(
    command: Sequence[str],
    *,
    port: int,
    env: Mapping[str, str],
    cwd: Path,
    models_dir: Path,
    log: Path,
    timeout_s: float = READY_TIMEOUT_S,
) -> Iterator[LiveServer]:
    """Start ``command``, wait until /health/ready is 200, yield, then terminate it."""
    with log.open("wb") as sink:
        process = subprocess.Popen(
            list(command), cwd=cwd, env=dict(env), stdout=sink, stderr=subprocess.STDOUT
        )
    server = LiveServer(f"http://127.0.0.1:{port}", process, log, models_dir)
    try:
        _wait_until_ready(server, timeout_s)
        yield server
    finally:
        _stop(process)


def _wait_until_ready(server: LiveServer, timeout_s: float) -> None:
    """Poll /health/live until the socket answers, then /health/ready until 200, keeping
    every ready answer."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=server.url, timeout=5.0) as client:
        while True:
            if server.process.poll() is not None:
                raise AssertionError(
                    f"the server exited with {server.process.returncode} before it was ready:\n"
                    + server.log_tail()
                )
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"/health/ready not 200 after {timeout_s:.0f} s; answers: "
                    f"{[a.status for a in server.ready_answers][-5:]}\n" + server.log_tail()
                )
            path = "/health/live" if server.live_first is None else "/health/ready"
            try:
                response = client.get(path)
            except httpx.TransportError:  # not listening yet
                time.sleep(_POLL_S)
                continue
            answer = HealthAnswer(response.status_code, response.json())
            if server.live_first is None:
                server.live_first = answer
                continue
            server.ready_answers.append(answer)
            if answer.status == 200:
                return
            statuses = answer.body.get("models", {})
            settled = statuses and "loading" not in statuses.values()
            if settled and set(statuses.values()) != {"ready"}:  # a model failed for good
                raise AssertionError(f"/health/ready will never be 200: {statuses}")
            time.sleep(_POLL_S)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def pull_default_models(models_dir: Path, source: Path, *names: str) -> None:
    """``python -m service pull`` of the default set (or of the models ``names``) from the
    shared mirror."""
    command = [sys.executable, "-m", "service", "pull", "--from", str(source)]
    result = subprocess.run(
        [*command, "--models-dir", str(models_dir), *names],
        cwd=REPO_ROOT,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="session")
def e2e_models_dir(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default model set, pulled (and sha256-checked) from shared/models by the CLI."""
    target = tmp_path_factory.mktemp("e2e-models")
    pull_default_models(target, models_dir)
    return target


StartServer = Callable[..., AbstractContextManager[LiveServer]]
# Not in the default set: pulled by name (README, POST /stylize).
STYLE_MODELS = ("multistyle26", "arbitrary_predict", "arbitrary_transform")


@pytest.fixture(scope="session")
def start_server(e2e_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> StartServer:
    """Start another ``python -m service serve`` on the default models with extra settings."""
    return server_starter(e2e_models_dir, tmp_path_factory)


@pytest.fixture(scope="session")
def style_models_dir(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default model set and the three style models, pulled by the CLI."""
    target = tmp_path_factory.mktemp("style-models")
    pull_default_models(target, models_dir)
    pull_default_models(target, models_dir, *STYLE_MODELS)
    return target


@pytest.fixture(scope="session")
def start_style_server(
    style_models_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> StartServer:
    """``start_server`` on the default models and the style models."""
    return server_starter(style_models_dir, tmp_path_factory)


def server_starter(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> StartServer:
    """Starts ``python -m service serve`` on ``models_dir`` with extra settings."""

    def start(**settings: str) -> AbstractContextManager[LiveServer]:
        port = free_port()
        command = [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1"]
        command += ["--port", str(port), "--models-dir", str(models_dir)]
        run_dir = tmp_path_factory.mktemp("server")
        defaults = {
            "VISION_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
            "VISION_GALLERY_PATH": str(run_dir / "gallery.sqlite3"),
        }
        env = clean_environment({**defaults, **settings})
        log = run_dir / "server.log"
        return running_server(
            command, port=port, env=env, cwd=REPO_ROOT, models_dir=models_dir, log=log
        )

    return start


@pytest.fixture(scope="session")
def live_server(start_server: StartServer) -> Iterator[LiveServer]:
    """The service under test, ready, for the whole session."""
    with start_server() as server:
        yield server


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=60.0) as http:
        yield http
