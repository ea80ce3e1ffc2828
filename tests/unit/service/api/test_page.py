"""The browser page at ``/``: served from the package, self-contained, open without the key."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.api.page import STATIC_DIR
from tests.conftest import REPO_ROOT

KEY = "s3cret-key"
# Attributes that make the browser fetch something.
_FETCHED = re.compile(r'\b(?:src|href)="([^"]*)"')
# The module an import (or re-export) statement names: the page's are one a line.
_IMPORTED = re.compile(r'^(?:import|export)\b[^"\n]*"([^"]*)";$', re.MULTILINE)


def referenced_assets() -> list[str]:
    html = (STATIC_DIR / "index.html").read_text()
    return [url for url in _FETCHED.findall(html) if not url.startswith("data:")]


def page_modules() -> set[str]:
    """The ES modules the page loads: the entry ``app.js`` and all it imports, followed through."""
    found: set[str] = set()
    waiting = ["app.js"]
    while waiting:
        name = waiting.pop()
        if name in found:
            continue
        found.add(name)
        for specifier in _IMPORTED.findall((STATIC_DIR / name).read_text()):
            assert re.fullmatch(r"\./[\w-]+\.js", specifier), (name, specifier)
            waiting.append(specifier.removeprefix("./"))
    return found


def test_the_page_is_served_at_the_root(client: TestClient) -> None:
    response = client.get("/")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="ui/app.js">' in response.text
    assert "default-src 'none'" in response.headers["content-security-policy"]


def test_every_asset_the_page_references_is_served(client: TestClient) -> None:
    assets = referenced_assets()

    assert {"ui/app.js", "ui/app.css"} <= set(assets)
    for asset in assets:
        response = client.get(f"/{asset}")
        assert response.status_code == 200, asset
    assert "javascript" in client.get("/ui/app.js").headers["content-type"]
    assert client.get("/ui/app.css").headers["content-type"].startswith("text/css")


def test_every_module_of_the_page_is_served_as_javascript(client: TestClient) -> None:
    """A browser runs an ES module only with a JavaScript content type; every import is a file
    beside ``app.js``, and every script there is imported."""
    modules = page_modules()

    assert modules == {path.name for path in STATIC_DIR.glob("*.js")}
    for name in modules:
        response = client.get(f"/ui/{name}")
        assert response.status_code == 200, name
        assert "javascript" in response.headers["content-type"], name


def test_nothing_is_loaded_from_elsewhere() -> None:
    """Offline and in the container: no CDN, font or script from another origin."""
    for path in STATIC_DIR.iterdir():
        text = path.read_text()
        urls = set(re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s\"')]*", text))
        assert urls <= {"http://www.w3.org/2000/svg"}, f"{path.name}: {urls}"
        assert "@import" not in text and "url(" not in text, path.name


def test_the_page_is_not_part_of_the_api_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]

    assert "/" not in paths
    assert not [path for path in paths if path.startswith("/ui")]


class TestWithAnApiKey:
    @pytest.fixture
    def keyed(self, make_client: Callable[..., TestClient]) -> TestClient:
        return make_client(api_key=KEY)

    @pytest.mark.parametrize("path", ["/", "/ui/app.js", "/ui/api.js", "/ui/app.css"])
    def test_the_page_loads_without_the_key(self, keyed: TestClient, path: str) -> None:
        """The page must load so that it can ask for the key."""
        assert keyed.get(path).status_code == 200

    @pytest.mark.parametrize("path", ["/models", "/ui", "/uix", "/index.html", "/faces"])
    def test_everything_else_still_needs_it(self, keyed: TestClient, path: str) -> None:
        response = keyed.get(path)

        assert response.status_code == 401
        assert "X-API-Key" in response.json()["detail"]

    @pytest.mark.parametrize("path", ["/ui/../models", "/ui/%2e%2e/models", "/ui/missing.js"])
    def test_the_open_assets_prefix_leads_nowhere_else(self, keyed: TestClient, path: str) -> None:
        response = keyed.get(path)

        assert response.status_code in (401, 404)
        assert "models" not in response.text or "detail" in response.json()


def test_an_installed_package_carries_the_page(tmp_path: Path) -> None:
    """A non-editable install (the container's) gets the static files: run setuptools'
    ``build_py`` (what a wheel is made of) on a copy of what the Dockerfile copies."""
    pytest.importorskip("setuptools")
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, source / name)
    for package in ("detection", "service"):
        shutil.copytree(
            REPO_ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    build_lib = tmp_path / "lib"
    command = [sys.executable, "-c", "import setuptools; setuptools.setup()"]
    built = subprocess.run(
        [*command, "build_py", "--build-lib", str(build_lib)],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    installed = {path.name for path in (build_lib / "service" / "static").iterdir()}

    assert {"index.html", "app.js", "app.css"} <= installed
    assert installed == {path.name for path in STATIC_DIR.iterdir()}
