"""Scanning model folders: configs, labels, not-yet-pulled models, names, order."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.repository.errors import ModelConfigError, RepositoryError
from service.repository.loader import (
    NOT_PULLED,
    PRESENT,
    read_entry,
    read_labels,
    scan_repository,
)
from service.repository.metadata import ModelSignature, TensorInfo

BUNDLED = Path(__file__).resolve().parents[4] / "models"


def make_model(
    root: Path,
    name: str,
    *,
    toml: str | None = 'task = "detect"',
    labels: str | None = None,
    onnx: str | None = None,
) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    if toml is not None:
        (folder / "model.toml").write_text(toml, encoding="utf-8")
    if labels is not None:
        (folder / "labels.txt").write_text(labels, encoding="utf-8")
    if onnx is not None:
        (folder / onnx).write_bytes(b"not read by the scan")
    return folder


def test_a_model_not_pulled_yet_is_listed_with_that_status(tmp_path: Path) -> None:
    folder = make_model(tmp_path, "det", labels="cat\ndog\n")
    [entry] = scan_repository(tmp_path)
    assert (entry.name, entry.directory, entry.status) == ("det", folder, NOT_PULLED)
    assert entry.config is not None and entry.config.task == "detect"
    assert entry.labels == ("cat", "dog")
    assert entry.model_path == folder / "model.onnx"
    (folder / "model.onnx").write_bytes(b"x")
    assert entry.status == PRESENT


def test_model_toml_file_key_names_the_onnx_file(tmp_path: Path) -> None:
    make_model(tmp_path, "det", toml='task = "detect"\nfile = "yolo.onnx"', onnx="yolo.onnx")
    [entry] = scan_repository(tmp_path)
    assert entry.model_path.name == "yolo.onnx"
    assert entry.status == PRESENT


def test_an_onnx_file_alone_makes_a_model(tmp_path: Path) -> None:
    make_model(tmp_path, "ultralytics", toml=None, onnx="model.onnx")
    [entry] = scan_repository(tmp_path)
    assert (entry.name, entry.config, entry.labels, entry.status) == (
        "ultralytics",
        None,
        None,
        PRESENT,
    )


def test_other_folders_and_files_are_ignored(tmp_path: Path) -> None:
    make_model(tmp_path, "det")
    make_model(tmp_path, ".cache")
    make_model(tmp_path, "__pycache__")
    make_model(tmp_path, "notes", toml=None, labels="just labels\n")
    (tmp_path / "README.md").write_text("hello", encoding="utf-8")
    assert [entry.name for entry in scan_repository(tmp_path)] == ["det"]


@pytest.mark.parametrize("name", ["has space", "-dash-first", "ü-umlaut", "a" * 65, "a;b"])
def test_unsafe_folder_names_are_refused(tmp_path: Path, name: str) -> None:
    make_model(tmp_path, name, onnx="model.onnx")
    with pytest.raises(ModelConfigError) as caught:
        scan_repository(tmp_path)
    assert repr(name) in str(caught.value)
    assert "allowed: letters, digits" in str(caught.value)


def test_catalog_order_comes_first_then_names(tmp_path: Path) -> None:
    for name in ["zeta", "alpha", "mid", "beta"]:
        make_model(tmp_path, name)
    file = 'file = "x.onnx"\nsha256 = "' + "0" * 64 + '"\nsize = 1\n'
    catalog = "".join(
        f'[models.{name}]\ntask = "detect"\nlicence = "MIT"\n[[models.{name}.files]]\n{file}'
        for name in ["zeta", "mid", "absent"]
    )
    (tmp_path / "catalog.toml").write_text(catalog, encoding="utf-8")
    assert [e.name for e in scan_repository(tmp_path)] == ["zeta", "mid", "alpha", "beta"]


def test_without_a_catalog_the_order_is_by_name(tmp_path: Path) -> None:
    for name in ["b", "c", "a"]:
        make_model(tmp_path, name)
    assert [e.name for e in scan_repository(tmp_path)] == ["a", "b", "c"]


def test_a_missing_models_directory(tmp_path: Path) -> None:
    with pytest.raises(RepositoryError, match="does not exist"):
        scan_repository(tmp_path / "nowhere")


def test_a_bad_model_toml_stops_the_scan_naming_the_file(tmp_path: Path) -> None:
    folder = make_model(tmp_path, "det", toml='task = "Segment!"')
    with pytest.raises(ModelConfigError) as caught:
        scan_repository(tmp_path)
    assert str(caught.value).startswith(f"{folder / 'model.toml'}: task")


def test_labels_one_a_line(tmp_path: Path) -> None:
    path = tmp_path / "labels.txt"
    path.write_bytes(b"tench\r\ngold fish\r\n  padded  \n\n\n")
    assert read_labels(path) == ("tench", "gold fish", "padded")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"cat\n\ndog\n", "line 2 is empty"),
        (b"\n\n", "no labels"),
        (b"caf\xe9\n", "cannot be read as UTF-8"),
    ],
)
def test_bad_labels_are_refused_naming_the_file(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "labels.txt"
    path.write_bytes(content)
    with pytest.raises(ModelConfigError) as caught:
        read_labels(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert expected in str(caught.value)


def test_resolve_names_the_entrys_own_files(tmp_path: Path) -> None:
    folder = make_model(tmp_path, "clf", toml='task = "classify"', labels="a\nb\n")
    entry = read_entry(folder)
    sig = ModelSignature(
        inputs=(TensorInfo("input", (1, 3, 224, 224), "tensor(float)"),),
        outputs=(TensorInfo("output", (1, 3), "tensor(float)"),),
    )
    with pytest.raises(ModelConfigError) as caught:
        entry.resolve(sig)
    assert str(caught.value).startswith(f"{folder / 'labels.txt'}: 2 labels")
    (folder / "labels.txt").write_text("a\nb\nc\n", encoding="utf-8")
    assert read_entry(folder).resolve(sig).labels == ("a", "b", "c")


def test_the_bundled_repository_scans_cleanly() -> None:
    entries = scan_repository(BUNDLED)
    names = [entry.name for entry in entries]
    # The default set leads, in catalog order, so "the first model of a task" is its default.
    assert names[:4] == [
        "yolox_nano",
        "mobilenetv2_float32",
        "face_detection_yunet_2023mar",
        "face_recognition_sface_2021dec",
    ]
    by_name = {entry.name: entry for entry in entries}
    assert by_name["yolox_nano"].labels is not None and len(by_name["yolox_nano"].labels) == 80
    mobilenet = by_name["mobilenetv2_float32"].labels
    assert mobilenet is not None and (mobilenet[0], mobilenet[999]) == ("tench", "toilet tissue")
