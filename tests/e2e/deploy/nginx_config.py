"""``deploy/nginx`` made runnable on a test machine: a copy whose upstream lists loopback
replicas and whose server listens on a free loopback port, checked or run by Debian's nginx with
its own prefix, so nothing outside the copy is read or written."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.e2e.deploy.manifests import NGINX

_SERVER_LINE = re.compile(r"^(\s*)server vision:8000 (.*)$", re.MULTILINE)
_START_TIMEOUT_S = 10.0


def nginx_binary() -> str:
    """Debian's nginx; skip (saying how to get it) where it is not installed."""
    binary = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if binary is None:
        pytest.skip("nginx is not installed (`apt-get install nginx`; .ci/run installs it)")
    return binary


def render(root: Path, replicas: Sequence[str], port: int, workers: int | None = None) -> Path:
    """Copy ``deploy/nginx`` into ``root``: one ``server`` line per ``host:port`` in
    ``replicas`` with the deploy file's parameters, ``listen`` on ``port`` at loopback,
    optionally a fixed number of workers. Returns the main config file."""
    root.mkdir(parents=True, exist_ok=True)
    for source in NGINX.glob("*.conf"):
        shutil.copyfile(source, root / source.name)
    upstream = (root / "upstream.conf").read_text()
    match = _SERVER_LINE.search(upstream)
    assert match, "deploy/nginx/upstream.conf lost its `server vision:8000 ...` line"
    indent, parameters = match.groups()
    lines = "\n".join(f"{indent}server {replica} {parameters}" for replica in replicas)
    (root / "upstream.conf").write_text(upstream[: match.start()] + lines + upstream[match.end() :])
    _substitute(root / "proxy.conf", r"listen \d+;", f"listen 127.0.0.1:{port};")
    if workers is not None:
        _substitute(root / "nginx.conf", r"worker_processes auto;", f"worker_processes {workers};")
    return root / "nginx.conf"


def _substitute(path: Path, pattern: str, replacement: str) -> None:
    text, count = re.subn(pattern, replacement, path.read_text())
    assert count == 1, f"{path.name}: expected one {pattern!r}"
    path.write_text(text)


def _command(config: Path, *flags: str, directives: str = "") -> list[str]:
    root = config.parent
    return [
        *(nginx_binary(), "-p", str(root), "-c", str(config), "-e", str(root / "error.log")),
        *("-g", f"pid {root / 'nginx.pid'}; {directives}"),
        *flags,
    ]


def check(config: Path) -> subprocess.CompletedProcess[str]:
    """``nginx -t`` on ``config``: parses it and resolves every upstream host."""
    return subprocess.run(_command(config, "-t"), capture_output=True, text=True, timeout=30)


@contextmanager
def running(config: Path, port: int) -> Iterator[None]:
    """nginx in the foreground on ``config`` until the block ends; yields once ``port`` accepts."""
    log = config.parent / "stderr.log"  # a file, not a pipe nobody drains
    with log.open("wb") as sink:
        process = subprocess.Popen(
            _command(config, directives="daemon off;"), stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise AssertionError(f"nginx exited: {log.read_text(errors='replace')}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)
