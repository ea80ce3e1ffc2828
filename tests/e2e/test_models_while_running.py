"""A model pulled while the real server runs is served within seconds, with no restart; before
that it is a 404 that names the pull command (``python -m service`` as subprocesses). The
server runs with the default provider preference, so its start-up log shows whether a CPU-only
onnxruntime build is taken for a fault."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import time
from pathlib import Path

import httpx
from PIL import Image

from tests.conftest import REPO_ROOT
from tests.e2e.conftest import clean_environment
from tests.e2e.tiny_server import LABELS, tiny_server
from tests.unit.service.pipelines.test_registry import make_model, mean_colour_classifier


def _catalog(name: str, onnx: Path) -> str:
    data = onnx.read_bytes()
    return (
        f'[models.{name}]\ntask = "classify"\nlicence = "MIT"\n'
        f'[[models.{name}.files]]\nfile = "{name}.onnx"\n'
        f'sha256 = "{hashlib.sha256(data).hexdigest()}"\nsize = {len(data)}\n'
    )


def _green_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (0, 200, 0)).save(out, "PNG")
    return out.getvalue()


def test_a_model_pulled_while_serving_is_served_without_a_restart(tmp_path: Path) -> None:
    models, mirror = tmp_path / "models", tmp_path / "mirror"
    make_model(models, "first", LABELS)
    (make_model(models, "later", LABELS) / "model.onnx").unlink()
    mean_colour_classifier(mirror / "later.onnx")
    (models / "catalog.toml").write_text(_catalog("later", mirror / "later.onnx"))
    watching = {"VISION_MODELS_WATCH_S": "0.5"}
    with (
        tiny_server(models, tmp_path, watching) as server,
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        files = {"image": ("green.png", _green_png(), "image/png")}
        missing = client.post("/classify", params={"model": "later"}, files=files)
        assert missing.status_code == 404, missing.text
        assert "retry-after" not in missing.headers
        assert missing.json()["type"] == "urn:vision-service:problem:model-not-installed"
        assert "python -m service pull later" in missing.json()["detail"]

        pull = [sys.executable, "-m", "service", "pull", "--models-dir", str(models)]
        done = subprocess.run(
            [*pull, "--from", str(mirror), "later"], env=clean_environment(), cwd=REPO_ROOT
        )
        assert done.returncode == 0
        pulled_at = time.monotonic()
        while True:
            answer = client.post("/classify", params={"model": "later"}, files=files)
            if answer.status_code == 200:
                break
            assert answer.status_code in (404, 503), answer.text  # not seen, or loading
            assert time.monotonic() - pulled_at < 10, server.log_tail()
            assert client.get("/health/ready").status_code == 200  # the others keep serving
            time.sleep(0.1)
        assert answer.json()["predictions"][0]["label"] == "green"
        assert client.get("/health/ready").json()["models"] == {"first": "ready", "later": "ready"}
    # The default providers (TensorRT, CUDA, CPU) on this CPU-only build: a quiet start.
    assert "FALLBACK" not in server.log.read_text(), server.log_tail()
