"""`pull` end to end over the real model files: a mirror directory and a loopback HTTP server.

Checksums are recomputed here with hashlib and compared with shared/models/SHA256SUMS, an
independent record, never with values the code under test produced.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from service.__main__ import main
from service.repository.catalog import Catalog, bundled_catalog_path, load_catalog
from service.repository.errors import PullError
from service.repository.loader import PRESENT, scan_repository
from service.repository.pull import DOWNLOADED, INSTALLED, UP_TO_DATE, pull

YUNET = "face_detection_yunet_2023mar"  # the smallest model: 232 kB
YOLOX = "yolox_nano"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(bundled_catalog_path())


@pytest.fixture(scope="module")
def sums(models_dir: Path) -> dict[str, str]:
    lines = (models_dir / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
    return {name: digest for digest, name in (line.split() for line in lines if line.strip())}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(folder: Path) -> list[str]:
    """Hidden temporary files a fetch could have left behind."""
    return sorted(p.name for p in folder.glob(".*")) if folder.is_dir() else []


class RecordingHandler(SimpleHTTPRequestHandler):
    """Serves a directory and records every requested path."""

    def __init__(self, *args: object, directory: str, log: list[str], **kwargs: object) -> None:
        self.log = log
        super().__init__(*args, directory=directory, **kwargs)  # type: ignore[arg-type]

    def do_GET(self) -> None:
        self.log.append(self.path)
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output quiet


class HalfThenCloseHandler(RecordingHandler):
    """Announces the whole file, sends half of it, then closes the connection."""

    def do_GET(self) -> None:
        self.log.append(self.path)
        data = Path(self.translate_path(self.path)).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.close_connection = True


@contextmanager
def serving(
    directory: Path, handler: type[RecordingHandler] = RecordingHandler
) -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 (free port) serving ``directory``: (base URL, request log)."""
    log: list[str] = []
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(handler, directory=str(directory), log=log)
    )
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", log
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def damaged_mirror(models_dir: Path, tmp_path: Path, name: str, *, truncate: bool) -> Path:
    """A mirror holding one real file with one byte flipped, or cut short by one byte."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    data = bytearray((models_dir / name).read_bytes())
    if truncate:
        del data[-1]
    else:
        data[len(data) // 2] ^= 0xFF
    (mirror / name).write_bytes(bytes(data))
    return mirror


# -- the catalog against the real files ------------------------------------------------------


def test_catalog_sizes_and_checksums_match_the_real_files(
    catalog: Catalog, models_dir: Path, sums: dict[str, str]
) -> None:
    for name, model in catalog.models.items():
        for entry in model.files:
            assert entry.sha256 == sums[entry.file], (name, entry.file)
            assert entry.size == (models_dir / entry.file).stat().st_size, (name, entry.file)


# -- success and re-runs ---------------------------------------------------------------------


def test_default_set_from_a_mirror_directory(
    catalog: Catalog, models_dir: Path, sums: dict[str, str], tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    first = pull(catalog, [], repo, source=str(models_dir))
    downloaded = {p.path.relative_to(repo).as_posix() for p in first if p.outcome == DOWNLOADED}
    assert downloaded == {
        f"{YOLOX}/model.onnx",
        "mobilenetv2_float32/model.onnx",
        f"{YUNET}/model.onnx",
        "face_recognition_sface_2021dec/model.onnx",
    }
    for name in catalog.select():
        for entry in catalog.models[name].files:
            assert sha256(repo / name / entry.save_as) == sums[entry.file]
        bundled = bundled_catalog_path().parent / name / "model.toml"
        assert (repo / name / "model.toml").read_bytes() == bundled.read_bytes()
        assert leftovers(repo / name) == []
    installed = {p.path.relative_to(repo).as_posix() for p in first if p.outcome == INSTALLED}
    assert f"{YOLOX}/labels.txt" in installed
    assert [e.status for e in scan_repository(repo)] == [PRESENT] * 4

    before = {p: p.stat().st_mtime_ns for p in repo.rglob("*")}
    again = pull(catalog, [], repo, source=str(models_dir))
    assert {p.outcome for p in again} == {UP_TO_DATE}
    assert {p: p.stat().st_mtime_ns for p in repo.rglob("*")} == before


def test_over_http_and_a_rerun_fetches_nothing(
    catalog: Catalog, models_dir: Path, sums: dict[str, str], tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    with serving(models_dir) as (url, log):
        pull(catalog, [YUNET, YOLOX], repo, source=url + "/")
        assert sorted(log) == sorted([f"/{YUNET}.onnx", f"/{YOLOX}.onnx"])
        assert sha256(repo / YUNET / "model.onnx") == sums[f"{YUNET}.onnx"]
        assert sha256(repo / YOLOX / "model.onnx") == sums[f"{YOLOX}.onnx"]
        again = pull(catalog, [YUNET, YOLOX], repo, source=url)
        assert len(log) == 2
    assert [p.outcome for p in again] == [UP_TO_DATE, UP_TO_DATE]


# -- refusals leave nothing behind -----------------------------------------------------------


@pytest.mark.parametrize("via_http", [False, True])
def test_a_corrupted_file_is_refused_and_nothing_is_left(
    catalog: Catalog, models_dir: Path, tmp_path: Path, via_http: bool
) -> None:
    mirror = damaged_mirror(models_dir, tmp_path, f"{YUNET}.onnx", truncate=False)
    repo = tmp_path / "repo"
    with ExitStack() as stack, pytest.raises(PullError) as caught:
        source = stack.enter_context(serving(mirror))[0] if via_http else str(mirror)
        pull(catalog, [YUNET], repo, source=source)
    message = str(caught.value)
    assert message.startswith(f"{YUNET}/model.onnx: sha256 of ")
    assert catalog.models[YUNET].files[0].sha256 in message
    assert not (repo / YUNET / "model.onnx").exists()
    assert leftovers(repo / YUNET) == []


def test_a_short_file_is_refused_by_size(
    catalog: Catalog, models_dir: Path, tmp_path: Path
) -> None:
    mirror = damaged_mirror(models_dir, tmp_path, f"{YUNET}.onnx", truncate=True)
    repo = tmp_path / "repo"
    with pytest.raises(PullError) as caught:
        pull(catalog, [YUNET], repo, source=str(mirror))
    assert f"gave {232589 - 1} bytes, the catalog says 232589" in str(caught.value)
    assert not (repo / YUNET / "model.onnx").exists()
    assert leftovers(repo / YUNET) == []


def test_an_interrupted_download_leaves_nothing(
    catalog: Catalog, models_dir: Path, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    with (
        serving(models_dir, HalfThenCloseHandler) as (url, log),
        pytest.raises(PullError) as caught,
    ):
        pull(catalog, [YOLOX], repo, source=url)
    assert log == [f"/{YOLOX}.onnx"]
    assert str(caught.value).startswith(f"{YOLOX}/model.onnx: fetching {url}/{YOLOX}.onnx failed")
    assert not (repo / YOLOX / "model.onnx").exists()
    assert leftovers(repo / YOLOX) == []


def test_a_missing_file_on_the_server_is_named_with_the_status(
    catalog: Catalog, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with serving(empty) as (url, _), pytest.raises(PullError) as caught:
        pull(catalog, [YUNET], tmp_path / "repo", source=url)
    assert str(caught.value).startswith(f"{YUNET}/model.onnx: {url}/{YUNET}.onnx answered HTTP 404")


def test_one_failure_does_not_stop_the_other_files(
    catalog: Catalog, models_dir: Path, tmp_path: Path
) -> None:
    mirror = damaged_mirror(models_dir, tmp_path, f"{YUNET}.onnx", truncate=False)
    shutil.copyfile(models_dir / f"{YOLOX}.onnx", mirror / f"{YOLOX}.onnx")
    repo = tmp_path / "repo"
    with pytest.raises(PullError) as caught:
        pull(catalog, [YUNET, YOLOX], repo, source=str(mirror))
    assert YUNET in str(caught.value) and YOLOX not in str(caught.value)
    assert (repo / YOLOX / "model.onnx").is_file()


def test_a_stale_file_is_replaced_or_removed(
    catalog: Catalog, models_dir: Path, sums: dict[str, str], tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    target = repo / YUNET / "model.onnx"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"an older, different model")
    assert [p.outcome for p in pull(catalog, [YUNET], repo, source=str(models_dir))] == [
        INSTALLED,
        DOWNLOADED,
    ]
    assert sha256(target) == sums[f"{YUNET}.onnx"]

    target.write_bytes(b"corrupted since")
    mirror = damaged_mirror(models_dir, tmp_path, f"{YUNET}.onnx", truncate=False)
    with pytest.raises(PullError, match=r"removed .*did not match the catalog either"):
        pull(catalog, [YUNET], repo, source=str(mirror))
    assert not target.exists()


# -- the command line ------------------------------------------------------------------------


def test_cli_pull_reports_each_file_and_exits_zero(
    models_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    assert main(["pull", YUNET, "--models-dir", str(repo), "--from", str(models_dir)]) == 0
    assert main(["pull", YUNET, "--models-dir", str(repo), "--from", str(models_dir)]) == 0
    err = capsys.readouterr().err
    assert f"{YUNET}/model.onnx: {DOWNLOADED}" in err
    assert f"{YUNET}/model.onnx: {UP_TO_DATE}" in err


def test_cli_reads_the_mirror_from_the_environment(
    models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VISION_MODELS_SOURCE", str(models_dir))
    repo = tmp_path / "repo"
    assert main(["pull", YUNET, "--models-dir", str(repo)]) == 0
    assert (repo / YUNET / "model.onnx").is_file()


def test_cli_refusal_exits_one_naming_the_file(
    models_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mirror = damaged_mirror(models_dir, tmp_path, f"{YUNET}.onnx", truncate=False)
    status = main(["pull", YUNET, "--models-dir", str(tmp_path / "repo"), "--from", str(mirror)])
    assert status == 1
    assert f"error: {YUNET}/model.onnx: sha256" in capsys.readouterr().err
