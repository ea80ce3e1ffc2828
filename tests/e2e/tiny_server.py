"""A real ``python -m service serve`` over tiny colour "classifiers" (no shared/ needed):
for tests of what a server does around its models (reload, docs, keys, generated clients)."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper

from tests.conftest import REPO_ROOT
from tests.e2e.conftest import LiveServer, clean_environment, free_port, running_server
from tests.onnx_graphs import build, save, tensor
from tests.unit.service.pipelines.test_registry import make_model

LABELS = ["red", "green", "blue"]


def tiny_models(root: Path, *names: str) -> Path:
    """A models folder with one mean-colour classifier per name."""
    for name in names:
        make_model(root, name, LABELS)
    return root


@contextmanager
def tiny_server(
    models: Path, work: Path, extra_env: Mapping[str, str] | None = None
) -> Iterator[LiveServer]:
    """The service on a free loopback port over ``models``, ready; its gallery and log in
    ``work``; the default providers unless ``extra_env`` says otherwise."""
    port = free_port()
    env = clean_environment(
        {
            "VISION_MODELS_DIR": str(models),
            "VISION_GALLERY_PATH": str(work / "gallery.sqlite3"),
            **(extra_env or {}),
        }
    )
    command = [sys.executable, "-m", "service", "serve", "--port", str(port)]
    with running_server(
        command, port=port, env=env, cwd=REPO_ROOT, models_dir=models, log=work / "server.log"
    ) as server:
        yield server


DOT_TOML = """task = "detect"
[input]
size = [32, 32]
[output]
layout = "yolov8"
"""


def dot_detector(root: Path, name: str = "dots") -> Path:
    """A "detector" that finds one ``dot`` (cx 16, cy 16, 8 x 8 input pixels, score 0.9) in
    any image: a yolov8-layout constant, so boxes are known without a trained model."""
    values = np.array([16, 16, 8, 8, 0.9, 0.05], np.float32).reshape(1, 6, 1)
    constant = helper.make_tensor("found", TensorProto.FLOAT, values.shape, values.ravel())
    node = helper.make_node("Constant", [], ["out"], value=constant)
    folder = root / name
    save(
        build([node], [tensor("x", (1, 3, 32, 32))], [tensor("out", values.shape)]),
        folder / "model.onnx",
    )
    (folder / "model.toml").write_text(DOT_TOML)
    (folder / "labels.txt").write_text("dot\nother\n")
    return folder
