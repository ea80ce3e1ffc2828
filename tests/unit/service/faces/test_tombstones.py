"""Tombstones of the SQLite store are pruned after a retention (VISION_GALLERY_TOMBSTONE_DAYS):
a reader behind the pruned history reloads in full, one ahead of it keeps catching up by
deltas, and a schema-3 file (tombstones without a time) is upgraded in place."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from service.faces import Gallery, NewFace, SqliteFaceStore
from service.faces.sqlite_store import SCHEMA_VERSION
from service.faces.stores import open_store
from service.settings import Settings
from tests.unit.service.faces.test_gallery_sync import CountingStore, faces, listing

DAY_S = 86_400.0


def tombstones(path: Path) -> list[tuple[str, int]]:
    with closing(sqlite3.connect(path)) as db:
        return db.execute("SELECT face_id, version FROM face_removals ORDER BY version").fetchall()


def pruned_version(path: Path) -> int:
    with closing(sqlite3.connect(path)) as db:
        return int(db.execute("SELECT pruned_version FROM gallery_meta").fetchone()[0])


def age(path: Path, days: float, *, version: int | None = None) -> None:
    """Make the tombstones of ``version`` (all when None) ``days`` older."""
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(
            "UPDATE face_removals SET removed_at = removed_at - ? WHERE ? IS NULL OR version = ?",
            (days * DAY_S, version, version),
        )


def test_a_deletion_prunes_only_the_tombstones_older_than_the_retention(tmp_path: Path) -> None:
    path = tmp_path / "g.sqlite3"
    store = SqliteFaceStore(path)  # the default retention: 7 days
    a, b, c = store.add("ann", "m", faces(0, 1, 2))  # version 1
    store.delete_face("ann", a.face_id)  # 2
    store.delete_face("ann", b.face_id)  # 3
    age(path, 8, version=2)
    age(path, 6, version=3)
    store.delete_face("ann", c.face_id)  # 4: prunes version 2's only
    assert tombstones(path) == [(b.face_id, 3), (c.face_id, 4)]
    assert pruned_version(path) == 2
    assert store.changes_since(1) is None  # it would miss a's deletion: load in full
    changes = store.changes_since(2)
    assert changes is not None and changes.removed == [b.face_id, c.face_id]
    store.close()

    SqliteFaceStore(path, tombstone_days=5).close()  # opening prunes too, by its retention
    assert tombstones(path) == [(c.face_id, 4)]
    assert pruned_version(path) == 3


def test_a_reader_behind_the_pruned_history_reloads_and_one_ahead_goes_on(
    tmp_path: Path,
) -> None:
    path = tmp_path / "g.sqlite3"
    writer = Gallery(SqliteFaceStore(path))
    writer.sync()
    ann = writer.enrol("ann", "m", faces(0, 1))  # version 1
    bob = writer.enrol("bob", "m", faces(2))  # 2
    behind_store = CountingStore(path)
    behind = Gallery(behind_store)
    behind.sync()  # at 2
    writer.delete_face("ann", ann[0].face_id)  # 3
    ahead_store = CountingStore(path)
    ahead = Gallery(ahead_store)
    ahead.sync()  # at 3
    age(path, 8)  # version 3's tombstone is now past the retention
    carl = writer.enrol("carl", "m", faces(3))  # 4
    writer.delete_subject("bob")  # 5: prunes version 3's tombstone
    assert tombstones(path) == [(bob[0].face_id, 5)]

    behind.sync()
    ahead.sync()
    expected = {"ann": [ann[1].face_id], "carl": [carl[0].face_id]}
    assert listing(behind) == listing(ahead) == listing(writer) == expected
    assert behind.version == ahead.version == 5
    assert (behind_store.loads, behind_store.incremental) == (2, 0)  # a second full load
    assert (ahead_store.loads, ahead_store.incremental) == (1, 1)  # a delta


def test_open_store_applies_the_retention_setting(tmp_path: Path) -> None:
    path = tmp_path / "g.sqlite3"
    store = open_store(Settings(gallery_path=path, gallery_tombstone_days=1))
    assert isinstance(store, SqliteFaceStore)
    a, b = store.add("ann", "m", faces(0, 1))
    store.delete_face("ann", a.face_id)
    age(path, 2)  # past one day, well within the default seven
    store.delete_face("ann", b.face_id)
    assert tombstones(path) == [(b.face_id, 3)]
    store.close()


def test_the_retention_setting_is_read_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VISION_GALLERY_TOMBSTONE_DAYS", raising=False)
    assert Settings().gallery_tombstone_days == 7
    monkeypatch.setenv("VISION_GALLERY_TOMBSTONE_DAYS", "30.5")
    assert Settings().gallery_tombstone_days == 30.5
    for refused in ("0", "0.5", "-3", "3651", "a week"):
        monkeypatch.setenv("VISION_GALLERY_TOMBSTONE_DAYS", refused)
        with pytest.raises(ValidationError, match="gallery_tombstone_days"):
            Settings()


# The schema as version 3 of the service created it: tombstones without a time.
VERSION_3_SCHEMA = """
CREATE TABLE faces (
    face_id    TEXT PRIMARY KEY,
    subject    TEXT NOT NULL,
    model      TEXT NOT NULL,
    dim        INTEGER NOT NULL,
    embedding  BLOB NOT NULL,
    x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL,
    created_at REAL NOT NULL,
    version    INTEGER NOT NULL
);
CREATE INDEX faces_subject ON faces (subject);
CREATE TABLE face_crops (
    face_id TEXT PRIMARY KEY REFERENCES faces (face_id) ON DELETE CASCADE,
    png     BLOB NOT NULL
);
CREATE TABLE face_removals (face_id TEXT NOT NULL, version INTEGER NOT NULL);
CREATE INDEX face_removals_version ON face_removals (version);
CREATE TABLE gallery_meta (
    one           INTEGER PRIMARY KEY CHECK (one = 1),
    version       INTEGER NOT NULL,
    reset_version INTEGER NOT NULL
);
CREATE INDEX faces_version ON faces (version);
PRAGMA user_version=3;
"""


def version_3_file(path: Path) -> tuple[list[str], list[NewFace]]:
    """Three faces written at versions 1, 2, 4, one deleted at 3, a rename at 5 (reset 5)."""
    ids = [f"{i:032x}" for i in (7, 3, 9, 5)]
    new = faces(0, 1, 2, 3)
    with closing(sqlite3.connect(path)) as db, db:
        db.executescript(VERSION_3_SCHEMA)
        for face_id, subject, version, face in zip(
            ids, ["ann", "bob", "ann", "carl"], [1, 2, 2, 4], new, strict=True
        ):
            db.execute(
                "INSERT INTO faces VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (face_id, subject, "m", 8, face.embedding.tobytes(), 1, 2, 3, 4, 1e9, version),
            )
        db.execute("DELETE FROM faces WHERE face_id = ?", (ids[1],))
        db.execute("INSERT INTO face_removals VALUES (?, 3)", (ids[1],))
        db.execute("INSERT INTO face_crops VALUES (?, ?)", (ids[2], b"png"))
        db.execute("INSERT INTO gallery_meta VALUES (1, 5, 5)")
    return ids, new


def test_a_version_3_file_is_upgraded_in_place_keeping_its_tombstones(tmp_path: Path) -> None:
    path = tmp_path / "g.sqlite3"
    ids, new = version_3_file(path)
    before = time.time()
    store = SqliteFaceStore(path, tombstone_days=1)
    after = time.time()

    assert store.version() == 5
    loaded = store.load()
    (columns,) = loaded.added
    assert columns.face_ids == [ids[0], ids[2], ids[3]]
    assert columns.subjects == ["ann", "ann", "carl"]
    np.testing.assert_array_equal(columns.embeddings[1], new[2].embedding)
    assert store.crop(ids[2]) == b"png"
    assert store.changes_since(4) is None  # the rename's reset is kept
    with closing(sqlite3.connect(path)) as db:
        (removed_at,) = db.execute("SELECT removed_at FROM face_removals").fetchone()
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    assert before <= removed_at <= after  # aged from the upgrade: kept a retention from now
    assert pruned_version(path) == 0

    store.delete_subject("carl")  # version 6; the old tombstone is not a day old yet
    changes = store.changes_since(5)
    assert changes is not None and changes.removed == [ids[3]]
    assert tombstones(path) == [(ids[1], 3), (ids[3], 6)]
    store.close()
    age(path, 2, version=3)
    SqliteFaceStore(path, tombstone_days=1).close()  # reopened: pruned now, nothing else
    assert tombstones(path) == [(ids[3], 6)]
    assert pruned_version(path) == 3
