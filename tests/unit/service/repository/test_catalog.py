"""catalog.toml: schema, refusals, selection, and the bundled catalog's consistency."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from service.pipelines.tasks import TASKS
from service.repository.catalog import bundled_catalog_path, load_catalog
from service.repository.errors import CatalogError
from service.repository.loader import read_entry

SHA = "ab" * 32
ENTRY = f"""
[models.det]
task = "detect"
default = true
licence = "MIT"

[[models.det.files]]
file = "det.onnx"
url = "https://example.org/det.onnx"
sha256 = "{SHA}"
size = 10

[models.extra]
task = "classify"
licence = "BSD-3-Clause"
note = "not in the default set"

[[models.extra.files]]
file = "extra.onnx"
sha256 = "{SHA}"
size = 20

[[models.extra.files]]
file = "classes.txt"
save_as = "labels.txt"
sha256 = "{SHA}"
size = 5
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_models_and_their_files(tmp_path: Path) -> None:
    catalog = load_catalog(write(tmp_path, ENTRY))
    assert list(catalog.models) == ["det", "extra"]
    det = catalog.models["det"]
    assert (det.task, det.default, det.licence, det.note) == ("detect", True, "MIT", None)
    [file] = det.files
    assert (file.file, file.save_as, file.url, file.sha256, file.size) == (
        "det.onnx",
        "model.onnx",
        "https://example.org/det.onnx",
        SHA,
        10,
    )
    extra = catalog.models["extra"]
    assert [(f.save_as, f.url) for f in extra.files] == [("model.onnx", None), ("labels.txt", None)]


def test_selection(tmp_path: Path) -> None:
    catalog = load_catalog(write(tmp_path, ENTRY))
    assert catalog.select() == ["det"]
    assert catalog.select(everything=True) == ["det", "extra"]
    assert catalog.select(["extra", "det", "extra"]) == ["extra", "det"]


def test_selecting_an_unknown_model_lists_the_known_ones(tmp_path: Path) -> None:
    catalog = load_catalog(write(tmp_path, ENTRY))
    with pytest.raises(CatalogError) as caught:
        catalog.select(["det", "yolo"])
    assert "no model named 'yolo'" in str(caught.value)
    assert "known: det, extra" in str(caught.value)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('licence = "MIT"', 'license = "MIT"', ["unknown key 'models.det.license'", "licence"]),
        ('licence = "MIT"', "", ["key 'models.det.licence' is required"]),
        ('licence = "MIT"', 'licence = ""', ["models.det.licence", "at least 1 character"]),
        ('task = "detect"', 'task = "Track!"', ["models.det.task", "pattern"]),
        (
            f'sha256 = "{SHA}"\nsize = 10',
            'sha256 = "abc"\nsize = 10',
            ["models.det.files[0].sha256"],
        ),
        ("size = 10", "size = 0", ["models.det.files[0].size", "greater than 0"]),
        ("size = 10", 'size = "10"', ["models.det.files[0].size", "valid integer"]),
        ('file = "det.onnx"', 'file = "../det.onnx"', ["models.det.files[0].file", "pattern"]),
        (
            'url = "https://example.org/det.onnx"',
            'url = "ftp://example.org/det.onnx"',
            ["models.det.files[0].url", "pattern"],
        ),
        ("models.det", 'models."bad name"', ["models.bad name", "allowed: letters"]),
        ('file = "classes.txt"\nsave_as = "labels.txt"', 'file = "classes.txt"', ["same name"]),
        ("default = true", "default = 1", ["models.det.default", "valid boolean"]),
        ("default = true", "mirror = true", ["unknown key 'models.det.mirror'", "upstream"]),
    ],
)
def test_refusals_name_file_key_and_what_is_allowed(
    tmp_path: Path, old: str, new: str, expected: list[str]
) -> None:
    assert old in ENTRY
    path = write(tmp_path, ENTRY.replace(old, new))
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    assert str(caught.value).startswith(f"{path}: ")
    for part in expected:
        assert part in str(caught.value)


def test_a_catalog_without_models_table(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="key 'models' is required"):
        load_catalog(write(tmp_path, "title = 'x'\n"))


def test_not_toml(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="not valid TOML"):
        load_catalog(write(tmp_path, "[models\n"))


# -- the bundled catalog -------------------------------------------------------------------


def test_bundled_default_set_is_the_four_permissive_models() -> None:
    catalog = load_catalog(bundled_catalog_path())
    defaults = {name: catalog.models[name] for name in catalog.select()}
    assert {name: model.task for name, model in defaults.items()} == {
        "yolox_nano": "detect",
        "mobilenetv2_float32": "classify",
        "face_detection_yunet_2023mar": "face-detect",
        "face_recognition_sface_2021dec": "face-embed",
    }
    assert {model.licence for model in defaults.values()} == {"Apache-2.0", "BSD-3-Clause", "MIT"}


def test_bundled_catalog_flags_restricted_licences() -> None:
    models = load_catalog(bundled_catalog_path()).models
    for name in ("scrfd_500m_kps", "scrfd_2.5g_kps"):
        assert "non-commercial" in models[name].licence
        assert "NOT licensed for commercial use" in (models[name].note or "")
    assert models["mobilefacenet_128d"].licence == "UNKNOWN"
    assert "AGPL-3.0" in models["yolov8n_coco_dynint8"].licence
    assert "AGPL-3.0" in models["yolov5n_coco_fp16"].licence
    assert not any(models[n].default for n in ("scrfd_500m_kps", "mobilefacenet_128d"))


def test_every_bundled_model_has_an_onnx_file_and_a_matching_folder() -> None:
    path = bundled_catalog_path()
    for name, model in load_catalog(path).models.items():
        assert [f.save_as for f in model.files].count("model.onnx") == 1, name
        folder = path.parent / name
        if not folder.is_dir():  # only an Ultralytics export may do without model.toml
            assert name == "yolov8n_coco_dynint8"
            continue
        entry = read_entry(folder)
        assert entry.config is not None and entry.config.task == model.task, name


def test_every_bundled_model_serves_a_task_of_the_task_table() -> None:
    """The catalog takes any task name; the ones we ship must be served."""
    for name, model in load_catalog(bundled_catalog_path()).models.items():
        assert model.task in TASKS, name


def test_every_default_file_is_obtainable_from_upstream_without_a_mirror() -> None:
    """A URL of its own, or a derivation from a pinned, checksummed original."""
    catalog = load_catalog(bundled_catalog_path())
    for name in catalog.select():
        for entry in catalog.models[name].files:
            source = entry.url or (entry.origin.url if entry.origin else None)
            assert source is not None, f"{name}/{entry.file} has no upstream"
            assert re.search(r"/[0-9a-f]{40}/", source), f"{source} is not pinned to a commit"


@pytest.mark.parametrize(
    "extra",
    [
        'derive = "dequantize-qdq"\n',
        f'[models.det.files.from]\nfile = "o.onnx"\nurl = "https://e.org/o"\nsha256 = "{SHA}"\nsize = 5\n',
    ],
    ids=["recipe without original", "original without recipe"],
)
def test_derive_and_from_go_together(tmp_path: Path, extra: str) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text(ENTRY.split("[models.extra]")[0] + extra)
    with pytest.raises(CatalogError, match="derive and from go together"):
        load_catalog(path)
