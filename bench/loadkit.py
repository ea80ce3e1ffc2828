"""What the load benches (``overload.py``, ``soak.py``) share: a server started from any checkout
(so the same bench measures the committed code in a ``git worktree`` and the working tree),
its memory as ``/proc`` reports it, and how loaded the machine was.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

READY_TIMEOUT_S = 180.0
REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Server:
    """A running ``python -m service serve``: where it listens and its process id."""

    name: str
    url: str
    pid: int


def shared_images() -> Path:
    """``$VISION_SHARED_DIR/images``, else ``shared/images`` beside the repository."""
    shared = Path(os.environ.get("VISION_SHARED_DIR", REPO_ROOT.parent / "shared"))
    return shared / "images"


@contextlib.contextmanager
def serve_from(
    name: str, checkout: Path, models_dir: Path, log: Path, env: Mapping[str, str] = {}
) -> Iterator[Server]:
    """Serve ``checkout``'s code (``-m service`` imports from the working directory) on a free
    loopback port with this interpreter's packages; yield once ``/health/ready`` is 200."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    command = [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--models-dir", str(models_dir.resolve())]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("VISION_")} | dict(env)
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=checkout, env=full_env, stdout=sink, stderr=subprocess.STDOUT
        )
    server = Server(name, f"http://127.0.0.1:{port}", process.pid)
    try:
        _wait_ready(server, process, log)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(server: Server, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    with httpx.Client(base_url=server.url, timeout=5.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = log.read_text(errors="replace")[-3000:]
                raise SystemExit(f"{server.name}: exited with {process.returncode}:\n{tail}")
            with contextlib.suppress(httpx.TransportError):
                if client.get("/health/ready").status_code == 200:
                    return
            time.sleep(0.2)
    raise SystemExit(f"{server.name}: not ready in {READY_TIMEOUT_S:.0f} s")


def rss_mb(pid: int) -> float:
    """Resident memory now (VmRSS), MB."""
    return _status_kib(pid, "VmRSS") / 1024


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM), MB."""
    return _status_kib(pid, "VmHWM") / 1024


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def malloc_arenas(pid: int) -> int:
    """glibc malloc arenas of the process: its 64 MiB-aligned heap reservations, seen in
    ``/proc/PID/maps`` as an anonymous read-write mapping plus its ``---p`` remainder that
    together span 64 MiB (the main arena lives in [heap] and is not counted)."""
    spans: list[tuple[int, int, str]] = []
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        fields = line.split()
        if len(fields) == 5:  # anonymous
            start, end = (int(x, 16) for x in fields[0].split("-"))
            spans.append((start, end, fields[1]))
    arenas = 0
    for i, (start, end, perms) in enumerate(spans):
        if perms.startswith("rw") and start % (64 << 20) == 0:
            total = end - start
            if i + 1 < len(spans) and spans[i + 1][0] == end and spans[i + 1][2] == "---p":
                total += spans[i + 1][1] - spans[i + 1][0]
            arenas += total == 64 << 20
    return arenas


def load_average() -> str:
    """The 1, 5 and 15-minute load averages and the core count, for the bench's header."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} on {os.cpu_count()} cores"
