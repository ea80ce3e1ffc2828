"""Settings that refuse a value rather than fall back silently."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.settings import Settings


def test_the_gallery_url_must_be_postgresql(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VISION_GALLERY_URL", raising=False)
    assert Settings(gallery_url="postgresql://u@db:5432/g").gallery_url is not None
    assert Settings(gallery_url="postgres://u@db/g").gallery_url is not None
    assert Settings().gallery_url is None  # the SQLite file
    with pytest.raises(ValidationError, match="must be a postgresql:// URL"):
        Settings(gallery_url="sqlite:///data/gallery.sqlite3")


def test_a_refused_setting_does_not_echo_its_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VISION_GALLERY_URL", "mysql://admin:hunter2@db/gallery")
    with pytest.raises(ValidationError) as refused:
        Settings()
    message = str(refused.value)
    assert "gallery_url" in message and "must be a postgresql:// URL" in message
    assert "hunter2" not in message
