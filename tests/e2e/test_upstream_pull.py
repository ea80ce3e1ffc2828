"""From a bare clone (no shared/ mirror): ``python -m service pull`` fetches the default set
from its upstream URLs, derives what has no published copy, and the served models answer.

The upstream hosts (raw.githubusercontent.com, media.githubusercontent.com, ...) are stood in
for by one loopback HTTP server: the test rewrites the catalog's ``https://HOST/`` prefixes to
``http://127.0.0.1:PORT/HOST/`` in its copy of the repository; the product is unchanged. The
bytes it serves come from shared/models (the test's own source of truth for what the hosts
publish, and the only reason it needs shared/).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from service.repository.catalog import bundled_catalog_path, load_catalog
from tests.conftest import REPO_ROOT
from tests.e2e.conftest import clean_environment, free_port, running_server
from tests.e2e.tiny_server import tiny_server
from tests.integration.test_pull import serving

ORIGIN_OF_DERIVED = "mobilenetv2_torchvision_qdq_uint8.onnx"


def upstream_tree(models_dir: Path, root: Path, corrupt: str | None = None) -> Path:
    """``root/HOST/PATH`` for every URL of the default set (derived files' originals too),
    holding the real bytes; ``corrupt`` names a file served with one byte flipped."""
    catalog = load_catalog(bundled_catalog_path())
    for name in catalog.select():
        for entry in catalog.models[name].files:
            for file, url in ((entry.file, entry.url), *_origin(entry)):
                if url is None:
                    continue
                parsed = urlparse(url)
                target = root / parsed.netloc / parsed.path.lstrip("/")
                target.parent.mkdir(parents=True, exist_ok=True)
                data = bytearray((models_dir / file).read_bytes())
                if file == corrupt:
                    data[len(data) // 2] ^= 0xFF
                target.write_bytes(bytes(data))
    return root


def _origin(entry: object) -> list[tuple[str, str | None]]:
    origin = getattr(entry, "origin", None)
    return [(origin.file, origin.url)] if origin is not None else []


def bare_clone(work: Path, upstream: str) -> Path:
    """What a clone holds under models/ (configs and the catalog, no .onnx), with the catalog's
    hosts pointed at ``upstream``."""
    models = work / "models"
    shutil.copytree(REPO_ROOT / "models", models, ignore=shutil.ignore_patterns("*.onnx"))
    catalog = models / "catalog.toml"
    catalog.write_text(re.sub(r"https://([^/\s\"]+)/", rf"{upstream}/\1/", catalog.read_text()))
    return models


def quickstart() -> list[list[str]]:
    """The README's Quickstart commands after the install: each ``.venv/bin/python -m service
    ...`` as argv, with this interpreter (the install is the one running these tests)."""
    text = (REPO_ROOT / "README.md").read_text()
    section = text[text.index("## Quickstart") :]
    block = section[section.index("```\n") + 4 : section.index("\n```", section.index("```\n") + 4)]
    commands = []
    for line in block.splitlines():
        for part in line.split(" && "):
            words = part.split()
            if words[:3] == [".venv/bin/python", "-m", "service"]:
                commands.append([sys.executable, *words[1:]])
    return commands


def test_the_quickstart_pulls_from_upstream_then_serves() -> None:
    assert [argv[1:] for argv in quickstart()] == [
        ["-m", "service", "pull"],  # no --from: upstream, as a stranger has no mirror
        ["-m", "service", "serve"],
    ]


def pull(models: Path) -> subprocess.CompletedProcess[str]:
    """The README's pull, as written, run in the clone (its default models folder)."""
    command = quickstart()[0]
    return subprocess.run(
        command, env=clean_environment(), cwd=models.parent, capture_output=True, text=True
    )


def test_a_bare_clone_pulls_the_default_set_upstream_and_serves_it(
    models_dir: Path, images_dir: Path, tmp_path: Path
) -> None:
    with serving(upstream_tree(models_dir, tmp_path / "hosts")) as (url, log):
        models = bare_clone(tmp_path, url)
        pulled = pull(models)
    assert pulled.returncode == 0, pulled.stderr
    assert "mobilenetv2_float32/model.onnx: derived (14.0 MB)" in pulled.stderr
    assert "face_recognition_sface_2021dec/model.onnx: downloaded (38.7 MB)" in pulled.stderr
    assert re.search(r"done: 4 model\(s\), .* 1 derived", pulled.stderr), pulled.stderr[-300:]
    assert f"/{ORIGIN_OF_DERIVED}" not in " ".join(log)  # the mirror's name is never asked
    assert sorted(p.name for p in models.rglob(".*")) == []  # no temporary file left

    with tiny_server(models, tmp_path) as server:
        photo = (images_dir / "ul_bus.jpg").read_bytes()
        found = httpx.post(f"{server.url}/detect", files={"image": ("bus.jpg", photo)}, timeout=60)
        assert found.status_code == 200, found.text
        assert "bus" in [d["label"] for d in found.json()["detections"]]
        cat = (images_dir / "chelsea.jpg").read_bytes()
        classified = httpx.post(
            f"{server.url}/classify", files={"image": ("cat.jpg", cat)}, timeout=60
        )
        assert classified.json()["predictions"][0]["label"] == "Egyptian cat"  # float32: no tie


@pytest.mark.parametrize(
    "corrupt", ["face_detection_yunet_2023mar.onnx", ORIGIN_OF_DERIVED], ids=["file", "origin"]
)
def test_a_corrupted_upstream_file_is_refused(
    models_dir: Path, tmp_path: Path, corrupt: str
) -> None:
    with serving(upstream_tree(models_dir, tmp_path / "hosts", corrupt=corrupt)) as (url, _):
        models = bare_clone(tmp_path, url)
        pulled = pull(models)
    assert pulled.returncode == 1
    assert "sha256 of" in pulled.stderr and "nothing was kept" in pulled.stderr
    refused = "face_detection_yunet_2023mar" if "yunet" in corrupt else "mobilenetv2_float32"
    assert not (models / refused / "model.onnx").exists()
    assert (models / "yolox_nano" / "model.onnx").is_file()  # the others were still pulled
    assert sorted(p.name for p in models.rglob(".*")) == []


def test_a_stranger_installs_pulls_and_serves_from_a_bare_clone(
    models_dir: Path, images_dir: Path, tmp_path: Path
) -> None:
    """The README's Quickstart as written, from ``git clone`` on: its first line (a fresh venv,
    ``pip install -e .``, the upstream pull) run by the shell in the clone, then its serve
    command; /detect finds the bus. Only the catalog's hosts differ (loopback)."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO_ROOT), str(clone)], check=True)
    assert not (clone / ".venv").exists() and not list((clone / "models").rglob("*.onnx"))
    text = (REPO_ROOT / "README.md").read_text()
    section = text[text.index("## Quickstart") :]
    install_and_pull, serve = section.split("```\n", 2)[1].strip().splitlines()
    assert install_and_pull.startswith("python3 -m venv .venv && .venv/bin/pip install")
    with serving(upstream_tree(models_dir, tmp_path / "hosts")) as (url, _):
        bare_clone_catalog = clone / "models" / "catalog.toml"
        bare_clone_catalog.write_text(
            re.sub(r"https://([^/\s\"]+)/", rf"{url}/\1/", bare_clone_catalog.read_text())
        )
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", install_and_pull],
            cwd=clone,
            env=clean_environment(),
            capture_output=True,
            text=True,
            timeout=900,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.search(r"done: 4 model\(s\)", done.stderr), done.stderr[-300:]
    port = free_port()
    command = [str(clone / ".venv" / "bin" / "python"), *serve.split()[1:]]
    env = clean_environment({"VISION_PORT": str(port), "VISION_HOST": "127.0.0.1"})
    with running_server(
        command, port=port, env=env, cwd=clone, models_dir=clone / "models", log=tmp_path / "log"
    ) as server:
        photo = (images_dir / "ul_bus.jpg").read_bytes()
        found = httpx.post(f"{server.url}/detect", files={"image": ("bus.jpg", photo)}, timeout=60)
    assert found.status_code == 200, found.text
    assert "bus" in [d["label"] for d in found.json()["detections"]]
