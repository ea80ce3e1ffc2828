"""``python -m service gallery reembed`` opens the gallery the server would: the PostgreSQL one
when VISION_GALLERY_URL is set (a real server, tests/support/postgres.py), else the SQLite
file; the embedder is a tiny ONNX graph, so the new embeddings can be worked out by hand."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest
from onnx import helper

from service.__main__ import main
from service.faces import SqliteFaceStore
from service.faces.postgres_store import PostgresFaceStore
from service.faces.store import FaceStore
from tests.onnx_graphs import build, save, tensor
from tests.support.postgres import PostgresServer, free_port, postgres
from tests.unit.service.faces.test_crops import new_face

__all__ = ["postgres"]  # the module-scoped server fixture, used by name below

EMBEDDER = "channel-means"
EMBEDDER_TOML = """task = "face-embed"
[input]
size = [112, 112]
resize = "stretch"
color = "RGB"
scale = 1.0
mean = [127.5, 127.5, 127.5]
std = [128.0, 128.0, 128.0]
[output]
kind = "embedding"
[thresholds]
similarity = 0.5
"""


@pytest.fixture
def models(tmp_path: Path) -> Path:
    """A models dir with one face embedder: the mean of each normalised colour channel."""
    node = helper.make_node("ReduceMean", ["x"], ["embedding"], axes=[2, 3], keepdims=0)
    model = build([node], [tensor("x", (1, 3, 112, 112))], [tensor("embedding", (1, 3))])
    save(model, tmp_path / "models" / EMBEDDER / "model.onnx")
    (tmp_path / "models" / EMBEDDER / "model.toml").write_text(EMBEDDER_TOML)
    return tmp_path / "models"


def expected_embedding(blue: int) -> list[float]:
    """The graph's output for a crop of pure ``blue``, normalised to unit length."""
    vector = np.array([-127.5, -127.5, blue - 127.5]) / 128.0
    return (vector / np.linalg.norm(vector)).tolist()


def enrol_and_reembed(
    store: FaceStore, models: Path, extra: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    """Two faces with crops under an old model, then the command; its status and stderr."""
    store.add("ann", "old-model", [new_face(200)])
    store.add("bob", "old-model", [new_face(90)])
    status = main(["gallery", "reembed", EMBEDDER, "--models-dir", str(models), *extra])
    return status, capsys.readouterr().err


def assert_moved(store: FaceStore) -> None:
    records = store.all()
    assert [(r.subject, r.model) for r in records] == [("ann", EMBEDDER), ("bob", EMBEDDER)]
    for record, blue in zip(records, (200, 90), strict=True):
        np.testing.assert_allclose(record.embedding, expected_embedding(blue), atol=1e-5)


@pytest.fixture(autouse=True)
def cpu_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VISION_PROVIDERS", "CPUExecutionProvider")
    monkeypatch.delenv("VISION_GALLERY_URL", raising=False)


def test_reembed_moves_the_postgresql_gallery_when_a_url_is_set(
    postgres: PostgresServer,
    models: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = postgres.create_database(f"t{uuid.uuid4().hex[:12]}")
    monkeypatch.setenv("VISION_GALLERY_URL", url)
    store = PostgresFaceStore(url, pool_size=1)
    unused = tmp_path / "unused.sqlite3"
    status, err = enrol_and_reembed(store, models, ["--gallery", str(unused)], capsys)
    assert status == 0, err
    assert "2 face(s) of the PostgreSQL gallery" in err
    assert_moved(store)
    assert not unused.exists()  # the SQLite file was never opened
    store.close()


def test_reembed_moves_the_sqlite_file_without_a_url(
    models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "g.sqlite3"
    store = SqliteFaceStore(path)
    status, err = enrol_and_reembed(store, models, ["--gallery", str(path)], capsys)
    assert status == 0, err
    assert f"2 face(s) of {path}" in err
    assert_moved(store)
    store.close()


def test_an_unreachable_postgresql_gallery_is_an_error_not_a_traceback(
    models: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VISION_GALLERY_URL", f"postgresql://nobody@127.0.0.1:{free_port()}/g")
    status = main(["gallery", "reembed", EMBEDDER, "--models-dir", str(models)])
    assert status == 1
    assert "error: the gallery database cannot be reached" in capsys.readouterr().err
