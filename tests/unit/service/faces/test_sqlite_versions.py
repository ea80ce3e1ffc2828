"""The SQLite store's gallery versions: one per write, changes since a version, the upgrade of
version-2 files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from service.faces import GalleryChanges, NewFace, SqliteFaceStore
from service.faces.sqlite_store import SCHEMA_VERSION


def face(seed: int, dim: int = 8) -> NewFace:
    vector = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return NewFace(vector / np.linalg.norm(vector), (seed, seed + 1.5, seed + 10, seed + 20.25))


@pytest.fixture
def store(tmp_path: Path) -> SqliteFaceStore:
    return SqliteFaceStore(tmp_path / "g.sqlite3")


def added_ids(changes: GalleryChanges | None) -> list[str]:
    assert changes is not None
    return [face_id for columns in changes.added for face_id in columns.face_ids]


def test_every_write_is_one_version(store: SqliteFaceStore) -> None:
    assert store.version() == 0
    ann = store.add("ann", "m", [face(1), face(2)])
    assert store.version() == 1  # one enrolment of two faces: one transaction, one version
    store.add("bob", "m", [face(3)])
    store.delete_face("ann", ann[0].face_id)
    assert store.version() == 3
    store.rename_subject("bob", "carl")
    store.replace_embeddings("m2", {ann[1].face_id: face(4).embedding})
    store.delete_subject("carl")
    assert store.version() == 6


def test_changes_since_give_the_faces_added_and_removed_after_a_version(
    store: SqliteFaceStore,
) -> None:
    ann = store.add("ann", "m", [face(1), face(2)])
    seen = store.version()
    bob = store.add("bob", "m", [face(3)])
    store.delete_face("ann", ann[0].face_id)
    carl = store.add("carl", "other", [face(4, dim=4)])
    store.delete_subject("carl")

    changes = store.changes_since(seen)
    assert changes is not None and changes.version == store.version() == 5
    assert changes.removed == [ann[0].face_id, carl[0].face_id]
    (columns,) = changes.added  # carl's face was added and removed since: only bob's is left
    assert (columns.model, columns.face_ids, columns.subjects) == ("m", [bob[0].face_id], ["bob"])
    np.testing.assert_array_equal(columns.embeddings, [face(3).embedding])
    np.testing.assert_array_equal(columns.boxes, [face(3).box])
    assert columns.created_at.tolist() == [bob[0].created_at]

    nothing = store.changes_since(store.version())
    assert nothing == GalleryChanges(version=5, added=[], removed=[])


def test_load_gives_every_face_per_model_oldest_first(store: SqliteFaceStore) -> None:
    a = store.add("ann", "m", [face(1)])
    b = store.add("bob", "other", [face(2, dim=4)])
    c = store.add("carl", "m", [face(3), face(4)])
    store.delete_face("carl", c[0].face_id)
    loaded = store.load()
    assert (loaded.version, loaded.removed) == (4, [])
    assert [(cols.model, cols.face_ids) for cols in loaded.added] == [
        ("m", [a[0].face_id, c[1].face_id]),
        ("other", [b[0].face_id]),
    ]
    assert [cols.embeddings.shape for cols in loaded.added] == [(2, 8), (1, 4)]


def test_a_rename_or_re_embedding_makes_older_readers_load_in_full(
    store: SqliteFaceStore,
) -> None:
    (ann,) = store.add("ann", "m", [face(1)])
    before = store.version()
    store.rename_subject("ann", "anna")
    assert store.changes_since(before) is None
    after_rename = store.version()
    assert added_ids(store.changes_since(after_rename)) == []  # a reader past it goes on
    store.replace_embeddings("m2", {ann.face_id: face(2).embedding})
    assert store.changes_since(after_rename) is None
    assert store.changes_since(store.version() + 1) is None  # ahead of the store: a new file


def test_a_second_store_on_the_file_sees_the_first_ones_writes(tmp_path: Path) -> None:
    writer, reader = (
        SqliteFaceStore(tmp_path / "g.sqlite3"),
        SqliteFaceStore(tmp_path / "g.sqlite3"),
    )
    (ann,) = writer.add("ann", "m", [face(1)])
    assert reader.version() == 1
    assert added_ids(reader.changes_since(0)) == [ann.face_id]


# The schema as version 2 of the service created it, before gallery versions existed.
VERSION_2_SCHEMA = """
CREATE TABLE faces (
    face_id    TEXT PRIMARY KEY,
    subject    TEXT NOT NULL,
    model      TEXT NOT NULL,
    dim        INTEGER NOT NULL,
    embedding  BLOB NOT NULL,
    x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX faces_subject ON faces (subject);
CREATE TABLE face_crops (
    face_id TEXT PRIMARY KEY REFERENCES faces (face_id) ON DELETE CASCADE,
    png     BLOB NOT NULL
);
PRAGMA user_version=2;
"""


def test_a_version_2_file_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "g.sqlite3"
    ids = [f"{i:032x}" for i in (7, 3, 9)]
    with sqlite3.connect(path) as db:
        db.executescript(VERSION_2_SCHEMA)
        for i, (face_id, subject) in enumerate(zip(ids, ["ann", "bob", "ann"], strict=True)):
            vector = face(i).embedding
            db.execute(
                "INSERT INTO faces VALUES (?,?,?,?,?,?,?,?,?,?)",
                (face_id, subject, "m", 8, vector.tobytes(), 1, 2, 3, 4, 1000.0 + i),
            )
        db.execute("INSERT INTO face_crops VALUES (?, ?)", (ids[1], b"png"))
    db.close()

    store = SqliteFaceStore(path)
    assert store.version() == 3
    (columns,) = store.load().added
    assert columns.face_ids == ids and columns.subjects == ["ann", "bob", "ann"]
    np.testing.assert_array_equal(columns.embeddings[2], face(2).embedding)
    assert added_ids(store.changes_since(1)) == ids[1:]  # faces got versions 1..3 in order
    assert store.crop(ids[1]) == b"png"
    store.delete_face("bob", ids[1])
    changes = store.changes_since(3)
    assert changes is not None and (changes.version, changes.removed) == (4, [ids[1]])
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    db.close()
    SqliteFaceStore(path).close()  # opening an upgraded file again changes nothing
    assert SqliteFaceStore(path).version() == 4
