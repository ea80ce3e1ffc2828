"""``deploy/nginx``: accepted by real nginx (``nginx -t``), its limits agreeing with the service's,
and its retry policy doing what its comments say: against a replica that takes a request and
dies before answering, an enrolment is never sent twice while inference moves to the next
replica."""

from __future__ import annotations

import inspect
import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import uvicorn

from service.api.app import create_app
from service.settings import Settings
from tests.e2e.conftest import free_port
from tests.e2e.deploy import nginx_config
from tests.e2e.deploy.manifests import NGINX

_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
# The POST routes that change the gallery or the server: never sent twice.
WRITES = {
    "/faces",
    "/models/reload",
    "/v1/vision/face/register",
    "/v1/vision/face/delete",
    "/api/v1/recognition/faces",
    "/api/v1/recognition/faces/delete",
    "/api/v1/recognition/subjects",
}


def _directive(name: str, file: str) -> str:
    match = re.search(rf"^\s*{name} ([^;]+);", (NGINX / file).read_text(), re.MULTILINE)
    assert match, f"{name} missing from {file}"
    return match[1]


class _Recorder(BaseHTTPRequestHandler):
    """A replica that answers every request 200 and remembers its method and path."""

    seen: list[str]

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.seen.append(f"{self.command} {self.path}")
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def do_DELETE(self) -> None:
        self._answer()

    def log_message(self, *args: object) -> None:
        pass


def _dying_replica(listener: socket.socket) -> None:
    """Reads each request whole, then closes without answering: a replica killed mid-request."""
    while True:
        try:
            connection, _ = listener.accept()
        except OSError:
            return
        with connection:
            connection.settimeout(1.0)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = connection.recv(65536)
                if not chunk:
                    break
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length: *(\d+)", head)
            while length and len(body) < int(length[1]):
                body += connection.recv(65536)


@pytest.fixture
def balancer(tmp_path: Path) -> Iterator[tuple[httpx.Client, list[str]]]:
    """nginx with the deploy config in front of [a dying replica, a recorder], one worker so
    that round robin sends each first request to the dying one."""
    seen: list[str] = []
    recorder = ThreadingHTTPServer(("127.0.0.1", 0), type("R", (_Recorder,), {"seen": seen}))
    dying = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=recorder.serve_forever, daemon=True).start()
    threading.Thread(target=_dying_replica, args=(dying,), daemon=True).start()
    replicas = [f"127.0.0.1:{dying.getsockname()[1]}", f"127.0.0.1:{recorder.server_port}"]
    port = free_port()
    config = nginx_config.render(tmp_path / "nginx", replicas, port, workers=1)
    try:
        with (
            nginx_config.running(config, port),
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20) as client,
        ):
            yield client, seen
    finally:
        recorder.shutdown()
        dying.close()


def test_nginx_accepts_the_deploy_config(tmp_path: Path) -> None:
    config = nginx_config.render(tmp_path, ["127.0.0.1:18001", "127.0.0.1:18002"], free_port())
    result = nginx_config.check(config)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_the_rendered_copy_keeps_the_deploy_upstream_parameters(tmp_path: Path) -> None:
    config = nginx_config.render(tmp_path, ["127.0.0.1:1", "127.0.0.1:2"], free_port())
    upstream = (config.parent / "upstream.conf").read_text()
    parameters = _directive("server vision:8000", "upstream.conf")
    assert upstream.count(parameters) == 2 and "vision:8000" not in upstream


def test_the_body_limit_is_the_services() -> None:
    size = re.fullmatch(r"(\d+)([kmg]?)", _directive("client_max_body_size", "proxy.conf"))
    assert size
    default = Settings.model_fields["max_body_bytes"].default
    assert int(size[1]) * _SIZE_UNITS[size[2]] == default


def test_idle_upstream_connections_close_before_uvicorn_closes_them() -> None:
    uvicorn_idle = inspect.signature(uvicorn.Config).parameters["timeout_keep_alive"].default
    nginx_idle = _directive("keepalive_timeout", "upstream.conf")
    assert nginx_idle.endswith("s") and float(nginx_idle[:-1]) < uvicorn_idle


def test_every_post_route_is_either_retried_or_a_write(tmp_path: Path) -> None:
    """The retried location lists inference routes only, and a POST route added later fails
    here until it is put on one side or the other."""
    (pattern,) = re.findall(r"location ~ (\S+) \{", (NGINX / "proxy.conf").read_text())
    models = tmp_path / "models"
    models.mkdir()
    app = create_app(Settings(models_dir=models, gallery_path=tmp_path / "gallery.sqlite3"))
    posts = {path for path, ops in app.openapi()["paths"].items() if "post" in ops}
    retried = {path for path in posts if re.match(pattern, re.sub(r"\{\w+\}", "x", path))}
    assert retried.isdisjoint(WRITES)
    assert retried | WRITES == posts
    assert {"/detect", "/v2/models/{model_name}/infer", "/v1/vision/face/recognize"} <= retried


def test_an_enrolment_that_reached_a_dying_replica_is_not_sent_again(balancer) -> None:
    client, seen = balancer
    answer = client.post("/faces", data={"subject": "ada"}, files={"image": ("f.jpg", b"x")})
    assert answer.status_code == 502
    assert seen == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/detect"),
        ("POST", "/recognize-face"),
        ("POST", "/v1/vision/detection"),
        ("POST", "/v2/models/yolox_nano/infer"),
        ("GET", "/faces"),
    ],
)
def test_a_request_that_changes_nothing_moves_to_the_next_replica(balancer, method, path) -> None:
    client, seen = balancer
    answer = client.request(method, path, content=b"x" * 1000)
    assert answer.status_code == 200
    assert seen == [f"{method} {path}"]


@pytest.mark.parametrize("path", ["/v1/vision/face/register", "/api/v1/recognition/faces"])
def test_other_posts_are_not_retried_either(balancer, path) -> None:
    client, seen = balancer
    assert client.post(path, content=b"x").status_code == 502
    assert seen == []
