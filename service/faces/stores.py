"""Which gallery store a process opens: one choice for the server and ``gallery reembed``, so
the command always works on the gallery the server serves."""

from __future__ import annotations

from service.faces.postgres_store import PostgresFaceStore
from service.faces.sqlite_store import SqliteFaceStore
from service.faces.store import FaceStore
from service.settings import Settings


def open_store(settings: Settings) -> FaceStore:
    """The SQLite file by default; PostgreSQL, shared by replicas, when a URL is set."""
    if settings.gallery_url is None:
        return SqliteFaceStore(
            settings.gallery_path, tombstone_days=settings.gallery_tombstone_days
        )
    return PostgresFaceStore(
        settings.gallery_url.get_secret_value(),
        pool_size=settings.gallery_pool_size,
        tombstone_days=settings.gallery_tombstone_days,
    )
