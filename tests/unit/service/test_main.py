"""`python -m service`: the pull listing, refusals, and handing `serve` to service.api."""

from __future__ import annotations

from pathlib import Path

import pytest

import service.__main__ as cli
from service.repository.catalog import bundled_catalog_path, load_catalog


def test_pull_list_shows_every_model_with_its_licence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["pull", "--list", "--models-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    catalog = load_catalog(bundled_catalog_path())
    assert [line.split()[0] for line in lines] == list(catalog.models)
    for line, model in zip(lines, catalog.models.values(), strict=True):
        assert line.endswith(model.licence)
        assert "not pulled" in line
        assert ("default" in line.split()) == model.default


def test_pull_of_an_unknown_model_exits_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["pull", "yolo9000", "--models-dir", str(tmp_path)]) == 1
    assert "no model named 'yolo9000'" in capsys.readouterr().err


def test_serve_hands_host_port_and_models_dir_to_service_api(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import service.api

    calls: list[tuple[str | None, int | None, Path | None]] = []

    def fake_serve(host: str | None, port: int | None, models_dir: Path | None) -> None:
        calls.append((host, port, models_dir))

    monkeypatch.setattr(service.api, "serve", fake_serve)
    assert cli.main(["serve", "--host", "0.0.0.0", "--port", "9000", "--models-dir", "m"]) == 0
    assert cli.main(["serve"]) == 0
    assert calls == [("0.0.0.0", 9000, Path("m")), (None, None, None)]
