"""What an attacker found, against a real server on loopback: each reproducer of issue 15 gets
the right 4xx (or a normal answer), never a 5xx, and the memory cases stay under a stated peak.

Bounds stated here and in the README's "Limits and failure modes" table:

- four concurrent 6300x6300 16-bit PNGs (77 kB each): the server's peak RSS rises by at most
  ``PNG16_PEAK_GROWTH``, 1.25 GiB (was 4.3 GB: float64 arrays);
- forty concurrent 19 MB JSON bodies: at most ``JSON_PEAK_GROWTH``, 640 MiB (was 1.8 GB: every body
  read and parsed before admission).
"""

from __future__ import annotations

import base64
import contextlib
import json
import resource
import select
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from tests.conftest import REPO_ROOT
from tests.e2e.conftest import (
    LiveServer,
    StartServer,
    clean_environment,
    free_port,
)
from tests.e2e.corpus import encode, picture, png_chunk

PROBLEM = "application/problem+json"
KEY = "hostile-test-key"
HEADER_TIMEOUT_S = 2.0
BODY_TIMEOUT_S = 3.0
# Four at once: each holds its decoded 16-bit pixels (2 B/px) and the RGB array the models
# read (3 B/px), ~265 MB at 6300x6300, no float64 copy of the whole image.
PNG16_PEAK_GROWTH = 1280 * 1024 * 1024
JSON_PEAK_GROWTH = 640 * 1024 * 1024  # 640 MiB for forty 19 MB bodies at once
JSON_ROUTES = ("/detect", "/classify", "/recognize-face", "/verify-face", "/faces")


@pytest.fixture(scope="module")
def hostile(start_server: StartServer) -> Iterator[LiveServer]:
    """A server with a key and short connection deadlines, so the slow cases end quickly."""
    with start_server(
        VISION_API_KEY=KEY,
        VISION_HEADER_TIMEOUT_S=str(HEADER_TIMEOUT_S),
        VISION_BODY_TIMEOUT_S=str(BODY_TIMEOUT_S),
        VISION_MAX_BODY_BYTES=str(20 * 1024 * 1024),
    ) as server:
        yield server


@pytest.fixture
def keyed(hostile: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hostile.url, timeout=120.0, headers={"X-API-Key": KEY}) as http:
        yield http


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem: dict[str, object] = response.json()
    assert problem["status"] == status and problem["detail"]
    return problem


# -- 1. 5xx from client input --------------------------------------------------------------


@pytest.mark.parametrize("route", JSON_ROUTES)
def test_json_nested_thousands_deep_is_a_400(keyed: httpx.Client, route: str) -> None:
    body = b'{"image": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    response = keyed.post(route, content=body, headers={"content-type": "application/json"})
    problem = assert_problem(response, 400)
    assert "nested too deeply" in str(problem["detail"])


def exif_with_malformed_value() -> bytes:
    """An EXIF block with orientation 6 and tag 0x011F (XPosition, a RATIONAL) holding ASCII:
    Pillow's exif_transpose raised TypeError rewriting it."""
    entries = [
        struct.pack("<HHII", 0x0112, 3, 1, 6),
        struct.pack("<HHI4s", 0x011F, 2, 3, b"ab\0\0"),
    ]
    ifd = struct.pack("<H", len(entries)) + b"".join(entries) + struct.pack("<I", 0)
    return b"Exif\0\0II*\0" + struct.pack("<I", 8) + ifd


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
@pytest.mark.parametrize(
    "route", ["/detect", "/classify", "/recognize-face", "/v1/vision/detection"]
)
def test_unreadable_exif_means_no_rotation_and_a_normal_answer(
    keyed: httpx.Client, fmt: str, route: str
) -> None:
    photo = encode(picture(96, 64), fmt, exif=exif_with_malformed_value())
    response = keyed.post(route, files={"image": ("photo", photo)})
    assert response.status_code == 200, response.text
    assert response.headers["image-notice"] == "image: exif-unreadable; not rotated"
    if route == "/detect":
        assert response.json()["image"] == {"width": 96, "height": 64}  # not rotated


def test_a_png_short_of_its_declared_pixels_is_a_422_truncated(keyed: httpx.Client) -> None:
    header = struct.pack(">IIBBBBB", 1, 10_000_000, 8, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header)
    data += png_chunk(b"IDAT", zlib.compress(b"\0" * 8))
    assert len(data) < 80
    problem = assert_problem(keyed.post("/detect", files={"image": ("p.png", data)}), 422)
    assert "truncated" in str(problem["detail"])


def test_a_full_disk_answers_507_and_stores_nothing_half(
    start_server: StartServer, images_dir: Path
) -> None:
    """The gallery's files may not grow past a few kB (RLIMIT_FSIZE on the server: writes fail
    with EFBIG, as on a full volume): enrolments and deletes answer 507, never 500, and what
    was answered 201 is whole once there is room again."""
    photo = (images_dir / "fr_obama1.jpg").read_bytes()
    with start_server() as server, httpx.Client(base_url=server.url, timeout=60) as client:
        gallery = server.log.parent / "gallery.sqlite3"  # where server_starter put it
        stored = client.post("/faces", data={"subject": "kept"}, files={"image": ("a", photo)})
        assert stored.status_code == 201, stored.text
        sizes = [p.stat().st_size for p in gallery.parent.glob(gallery.name + "*")]
        soft, hard = resource.prlimit(server.process.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(server.process.pid, resource.RLIMIT_FSIZE, (max(sizes) + 8192, hard))
        try:
            answers = []
            for n in range(40):
                answer = client.post(
                    "/faces", data={"subject": f"s{n}"}, files={"image": ("a", photo)}
                )
                answers.append(answer)
                if answer.status_code == 507:
                    break
            assert all(a.status_code in (201, 507) for a in answers), [a.text for a in answers]
            problem = assert_problem(answers[-1], 507)
            assert "refused the write" in str(problem["detail"])
            deleted = client.delete("/faces/kept")
            assert deleted.status_code in (204, 507), deleted.text
        finally:
            resource.prlimit(server.process.pid, resource.RLIMIT_FSIZE, (soft, hard))
        listed = {s["subject"]: s for s in client.get("/faces").json()["subjects"]}
        enrolled = {f"s{n}" for n, a in enumerate(answers) if a.status_code == 201}
        assert enrolled | ({"kept"} if deleted.status_code == 507 else set()) == set(listed)
        assert all(len(listed[name]["faces"]) == 1 for name in listed)
        again = client.post("/faces", data={"subject": "after"}, files={"image": ("a", photo)})
        assert again.status_code == 201, again.text


# -- 2. memory bounded by design -----------------------------------------------------------


def png16(size: int) -> bytes:
    """A ``size`` x ``size`` 16-bit grey PNG of one grey: tiny compressed, large decoded."""
    row = np.full(size, 40000, dtype=">u2").tobytes()
    raw = (b"\x00" + row) * size
    header = struct.pack(">IIBBBBB", size, size, 16, 0, 0, 0, 0)
    idat = zlib.compress(raw, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", idat)
        + (png_chunk(b"IEND", b""))
    )


def test_four_16_bit_pngs_at_once_stay_under_the_memory_bound(
    hostile: LiveServer, keyed: httpx.Client
) -> None:
    data = png16(6300)
    assert len(data) < 100_000  # 77 kB

    def four() -> list[int]:
        with ThreadPoolExecutor(4) as pool:
            sent = pool.map(
                lambda _: keyed.post("/detect", files={"image": ("g.png", data)}).status_code,
                range(4),
            )
            return list(sent)

    statuses: list[int] = []
    growth = hostile.peak_rss_growth(lambda: statuses.extend(four()))
    assert statuses == [200] * 4
    assert growth <= PNG16_PEAK_GROWTH, f"peak RSS rose {growth / 2**20:.0f} MiB"


def test_a_float_tiff_is_scaled_without_error(keyed: httpx.Client) -> None:
    values = np.linspace(0, 4000, 64 * 48, dtype=np.float32).reshape(48, 64)
    tiff = encode(Image.fromarray(values, mode="F"), "TIFF")
    assert keyed.post("/detect", files={"image": ("f.tif", tiff)}).status_code == 200


def test_decoded_bytes_are_bounded_from_the_header(start_server: StartServer) -> None:
    """A 16-bit image whose decoded size passes VISION_MAX_DECODED_BYTES is refused before
    decoding, naming the setting."""
    with start_server(VISION_MAX_DECODED_BYTES=str(1_000_000)) as server:
        response = httpx.post(
            f"{server.url}/detect", files={"image": ("g.png", png16(1000))}, timeout=60
        )
    problem = assert_problem(response, 422)
    assert "VISION_MAX_DECODED_BYTES" in str(problem["detail"])


def test_forty_19_mb_json_bodies_at_once_stay_under_the_memory_bound(
    hostile: LiveServer, keyed: httpx.Client
) -> None:
    payload = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(14 * 1024 * 1024)).decode()
    body = json.dumps({"image": payload}).encode()
    assert 18_000_000 < len(body) < 20 * 1024 * 1024
    headers = {"content-type": "application/json"}

    def forty() -> list[int]:
        with ThreadPoolExecutor(40) as pool:
            return list(
                pool.map(
                    lambda _: keyed.post("/detect", content=body, headers=headers).status_code,
                    range(40),
                )
            )

    statuses: list[int] = []
    growth = hostile.peak_rss_growth(lambda: statuses.extend(forty()))
    assert set(statuses) <= {422, 503}, statuses
    assert growth <= JSON_PEAK_GROWTH, f"peak RSS rose {growth / 2**20:.0f} MiB"


def test_a_full_line_is_refused_503_without_reading_the_body(
    start_server: StartServer,
) -> None:
    """With one slot and no queue, a request arriving while one body is held (unfinished) is
    answered 503 + Retry-After at once, although its own body has not been sent."""
    with start_server(VISION_MAX_CONCURRENCY="1", VISION_MAX_QUEUE="0") as server:
        port = int(server.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as holder:
            holder.sendall(_post_head(1000))  # the head only: its body never comes
            time.sleep(0.5)
            with socket.create_connection(("127.0.0.1", port)) as second:
                second.sendall(_post_head(10_000_000))  # declares 10 MB, sends none
                second.settimeout(10)
                answer = _read_head(second)
    assert answer.startswith(b"HTTP/1.1 503"), answer
    assert b"retry-after: 1" in answer.lower()


def _post_head(length: int) -> bytes:
    return (
        f"POST /detect HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def _read_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


# -- 3. connections -------------------------------------------------------------------------


def _closed_by_server(sock: socket.socket, within_s: float) -> bool:
    """Whether the server closes ``sock`` (EOF or reset) within ``within_s``."""
    sock.settimeout(within_s)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


def test_silent_connections_are_closed_after_the_header_timeout(hostile: LiveServer) -> None:
    port = int(hostile.url.rsplit(":", 1)[1])
    sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(50)]
    try:
        still_open = _open_after(sockets, HEADER_TIMEOUT_S + 8)
    finally:
        for s in sockets:
            s.close()
    assert still_open == 0, f"{still_open} of 50 silent sockets still open"


def _open_after(sockets: list[socket.socket], within_s: float) -> int:
    """How many of ``sockets`` the server has not closed after ``within_s`` (all watched at
    once)."""
    deadline = time.monotonic() + within_s
    waiting = set(sockets)
    while waiting and time.monotonic() < deadline:
        readable, _, _ = select.select(list(waiting), [], [], 0.2)
        for sock in readable:
            try:
                data = sock.recv(4096)
            except ConnectionResetError:
                data = b""
            if not data:
                waiting.discard(sock)
    return len(waiting)


def test_a_header_dribbler_is_closed_after_the_header_timeout(hostile: LiveServer) -> None:
    port = int(hostile.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
        stop = threading.Event()

        def dribble() -> None:
            while not stop.is_set():
                try:
                    sock.sendall(b"X")
                except OSError:
                    return
                stop.wait(0.3)

        dribbler = threading.Thread(target=dribble)
        dribbler.start()
        try:
            assert _closed_by_server(sock, HEADER_TIMEOUT_S + 8)
        finally:
            stop.set()
            dribbler.join()


def test_a_body_dribbler_gets_a_408(hostile: LiveServer) -> None:
    port = int(hostile.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        head = _post_head(1000).replace(b"Host: x\r\n", f"Host: x\r\nX-API-Key: {KEY}\r\n".encode())
        sock.sendall(head)
        sock.settimeout(BODY_TIMEOUT_S + 10)
        deadline = time.monotonic() + BODY_TIMEOUT_S + 8
        answer = b""
        sock.setblocking(False)
        while time.monotonic() < deadline and b"\r\n\r\n" not in answer:
            with contextlib.suppress(OSError):
                sock.send(b" ")
            try:
                answer += sock.recv(4096)
            except BlockingIOError:
                time.sleep(0.3)
            except OSError:
                break
    assert answer.startswith(b"HTTP/1.1 408"), answer


# -- 4. smaller leaks and traps -------------------------------------------------------------


@pytest.mark.parametrize("subject", [".", "..", "..."])
def test_dot_subjects_are_refused(keyed: httpx.Client, images_dir: Path, subject: str) -> None:
    photo = (images_dir / "fr_obama1.jpg").read_bytes()
    response = keyed.post("/faces", data={"subject": subject}, files={"image": ("a", photo)})
    assert_problem(response, 422)


def test_a_405_lists_every_method_of_the_path(keyed: httpx.Client) -> None:
    response = keyed.put("/faces")
    assert_problem(response, 405)
    assert set(response.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "POST"}


@pytest.mark.parametrize("path", ["/health/live", "/health/ready", "/faces", "/models"])
def test_head_works_wherever_get_does(keyed: httpx.Client, path: str) -> None:
    get, head = keyed.get(path), keyed.head(path)
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]


def test_unauthenticated_readiness_hides_load_errors(e2e_models_dir: Path, tmp_path: Path) -> None:
    """A model that fails to load: keyless /health/ready says ``error``, not the path and the
    onnxruntime message; /models (keyed) has the details."""
    models = tmp_path / "models"
    models.mkdir()
    for source in e2e_models_dir.iterdir():
        (models / source.name).symlink_to(source)
    broken = models / "broken_detector"
    broken.mkdir()
    (broken / "model.onnx").write_bytes(b"not an onnx file at all")
    (broken / "model.toml").write_text('task = "detect"\n')
    with _Started(models, tmp_path, VISION_API_KEY=KEY) as url:
        statuses = _settled_statuses(url)
        open_ready = httpx.get(f"{url}/health/ready")
        keyed_ready = httpx.get(f"{url}/health/ready", headers={"X-API-Key": KEY})
    assert statuses["broken_detector"].startswith("error")
    assert open_ready.json()["models"]["broken_detector"] == "error"
    assert str(models) not in open_ready.text and "onnxruntime" not in open_ready.text.lower()
    assert keyed_ready.json()["models"]["broken_detector"] != "error"  # details for the key


def _settled_statuses(url: str) -> dict[str, str]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        answer = httpx.get(f"{url}/health/ready", headers={"X-API-Key": KEY}).json()
        statuses: dict[str, str] = answer.get("models", {})
        if statuses and "loading" not in statuses.values():
            return statuses
        time.sleep(0.2)
    raise AssertionError("the models never settled")


class _Started:
    """``python -m service serve`` that may never be ready; yields its URL once listening."""

    def __init__(self, models: Path, run_dir: Path, **settings: str) -> None:
        self.port = free_port()
        env = clean_environment(
            {"VISION_GALLERY_PATH": str(run_dir / "gallery.sqlite3"), **settings}
        )
        command = [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--models-dir", str(models)]
        self.log = (run_dir / "server.log").open("wb")
        self.process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )

    def __enter__(self) -> str:
        url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{url}/health/live")
                return url
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("the server never listened")

    def __exit__(self, *_: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


def test_require_gpu_without_a_gpu_stops_at_start_up(e2e_models_dir: Path, tmp_path: Path) -> None:
    gpus = {"CUDAExecutionProvider", "TensorrtExecutionProvider"}
    if gpus & set(ort.get_available_providers()):
        pytest.skip("this onnxruntime has a GPU provider: the refusal needs a machine without")
    env = clean_environment(
        {"VISION_REQUIRE_GPU": "true", "VISION_GALLERY_PATH": str(tmp_path / "g.sqlite3")}
    )
    command = [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(free_port()), "--models-dir", str(e2e_models_dir)]
    done = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: VISION_REQUIRE_GPU is set but")
