"""pull without model files: a tiny catalog over a temporary mirror, and the progress display."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from service.repository.catalog import Catalog, load_catalog
from service.repository.errors import PullError
from service.repository.pull import DOWNLOADED, INSTALLED, TextProgress, pull

PAYLOAD = b"\x08\x07onnx-ish bytes " * 100


def tiny_catalog(root: Path, *, sha256: str, size: int, url: str | None = None) -> Catalog:
    url_line = f'url = "{url}"\n' if url else ""
    text = (
        '[models.tiny]\ntask = "detect"\nlicence = "MIT"\n'
        f'[[models.tiny.files]]\nfile = "tiny.onnx"\n{url_line}sha256 = "{sha256}"\nsize = {size}\n'
    )
    root.mkdir(parents=True, exist_ok=True)
    (root / "catalog.toml").write_text(text, encoding="utf-8")
    return load_catalog(root / "catalog.toml")


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    folder = tmp_path / "mirror"
    folder.mkdir()
    (folder / "tiny.onnx").write_bytes(PAYLOAD)
    return folder


def test_a_verified_file_lands_under_its_save_as_name(tmp_path: Path, mirror: Path) -> None:
    catalog = tiny_catalog(
        tmp_path / "cat", sha256=hashlib.sha256(PAYLOAD).hexdigest(), size=len(PAYLOAD)
    )
    [pulled] = pull(catalog, ["tiny"], tmp_path / "repo", source=str(mirror))
    assert (pulled.model, pulled.outcome) == ("tiny", DOWNLOADED)
    assert pulled.path == tmp_path / "repo" / "tiny" / "model.onnx"
    assert pulled.path.read_bytes() == PAYLOAD
    assert pulled.path.stat().st_mode & 0o777 == 0o644


def test_bundled_config_is_copied_but_never_over_an_edit(tmp_path: Path, mirror: Path) -> None:
    catalog = tiny_catalog(
        tmp_path / "cat", sha256=hashlib.sha256(PAYLOAD).hexdigest(), size=len(PAYLOAD)
    )
    (tmp_path / "cat" / "tiny").mkdir()
    (tmp_path / "cat" / "tiny" / "model.toml").write_text('task = "detect"\n', encoding="utf-8")
    (tmp_path / "cat" / "tiny" / "labels.txt").write_text("bundled\n", encoding="utf-8")
    repo = tmp_path / "repo"
    (repo / "tiny").mkdir(parents=True)
    (repo / "tiny" / "labels.txt").write_text("edited\n", encoding="utf-8")
    outcomes = pull(catalog, ["tiny"], repo, source=str(mirror))
    assert [(p.path.name, p.outcome) for p in outcomes] == [
        ("model.toml", INSTALLED),
        ("model.onnx", DOWNLOADED),
    ]
    assert (repo / "tiny" / "labels.txt").read_text(encoding="utf-8") == "edited\n"


def test_a_file_without_url_needs_a_mirror(tmp_path: Path) -> None:
    catalog = tiny_catalog(tmp_path / "cat", sha256="0" * 64, size=1)
    with pytest.raises(PullError) as caught:
        pull(catalog, ["tiny"], tmp_path / "repo")
    assert str(caught.value).startswith(
        "tiny/model.onnx: the catalog has no source URL for tiny.onnx"
    )
    assert "--from" in str(caught.value)


def test_a_larger_file_is_cut_off_and_refused(tmp_path: Path, mirror: Path) -> None:
    catalog = tiny_catalog(tmp_path / "cat", sha256="0" * 64, size=len(PAYLOAD) - 10)
    with pytest.raises(PullError, match="larger than the catalog's"):
        pull(catalog, ["tiny"], tmp_path / "repo", source=str(mirror))
    assert list((tmp_path / "repo" / "tiny").iterdir()) == []


def test_a_missing_mirror_file_is_named(tmp_path: Path) -> None:
    catalog = tiny_catalog(tmp_path / "cat", sha256="0" * 64, size=1)
    with pytest.raises(PullError) as caught:
        pull(catalog, ["tiny"], tmp_path / "repo", source=str(tmp_path / "nowhere"))
    assert str(caught.value).startswith(f"tiny/model.onnx: fetching {tmp_path / 'nowhere'}")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_updates_one_bar_per_percent() -> None:
    stream = Terminal()
    progress = TextProgress(stream)
    for done in (0, 1, 2, 500_000, 500_001, 1_000_000):
        progress.update("m/model.onnx", done, 1_000_000)
    progress.finish("m/model.onnx", "downloaded")
    shown = stream.getvalue().split("\r")
    assert shown[1:4] == [
        "m/model.onnx [........................]   0% 0.0/1.0 MB",
        "m/model.onnx [############............]  50% 0.5/1.0 MB",
        "m/model.onnx [########################] 100% 1.0/1.0 MB",
    ]
    assert stream.getvalue().endswith("m/model.onnx: downloaded (1.0 MB)\n")


def test_progress_in_a_log_prints_one_line_per_file() -> None:
    stream = io.StringIO()
    progress = TextProgress(stream)
    progress.update("m/model.onnx", 10, 100)
    progress.finish("m/model.onnx", "up to date")
    assert stream.getvalue() == "m/model.onnx: up to date\n"
