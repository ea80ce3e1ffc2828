from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from service.faces import GalleryError, NewFace, SqliteFaceStore


def face(seed: int, dim: int = 8) -> NewFace:
    vector = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return NewFace(vector / np.linalg.norm(vector), (seed, seed + 1.5, seed + 10, seed + 20.25))


def test_faces_round_trip_exactly_and_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "gallery.sqlite3"
    store = SqliteFaceStore(path)
    added = store.add("ann", "embedder-a", [face(1), face(2)])
    store.add("bob", "embedder-a", [face(3)])
    store.close()

    reopened = SqliteFaceStore(path)
    records = reopened.all()
    assert [r.subject for r in records] == ["ann", "ann", "bob"]
    assert [r.face_id for r in records[:2]] == [r.face_id for r in added]
    assert len({r.face_id for r in records}) == 3
    for record, expected in zip(records, [face(1), face(2), face(3)], strict=True):
        np.testing.assert_array_equal(record.embedding, expected.embedding)
        assert record.box == expected.box
        assert record.model == "embedder-a"
    reopened.close()


def test_the_file_is_in_wal_mode_with_full_sync(tmp_path: Path) -> None:
    store = SqliteFaceStore(tmp_path / "g.sqlite3")
    store.add("ann", "m", [face(1)])
    with sqlite3.connect(tmp_path / "g.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()


def test_a_failing_enrolment_stores_nothing(tmp_path: Path) -> None:
    store = SqliteFaceStore(tmp_path / "g.sqlite3")
    store.add("ann", "m", [face(1)])
    broken = NewFace(face(2).embedding, (None, 0.0, 1.0, 1.0))  # type: ignore[arg-type]
    with pytest.raises(sqlite3.Error):
        store.add("bob", "m", [face(3), broken])  # the first row was inserted, then rolled back
    assert [r.subject for r in store.all()] == ["ann"]
    store.add("carl", "m", [face(4)])  # the connection is usable afterwards
    assert [r.subject for r in store.all()] == ["ann", "carl"]
    store.close()


def test_deleting_subjects_and_single_faces(tmp_path: Path) -> None:
    store = SqliteFaceStore(tmp_path / "g.sqlite3")
    ann = store.add("ann", "m", [face(1), face(2)])
    bob = store.add("bob", "m", [face(3), face(4)])
    assert store.delete_face("ann", ann[0].face_id) is True
    assert store.delete_face("ann", ann[0].face_id) is False
    assert store.delete_face("bob", ann[1].face_id) is False  # the id belongs to another subject
    assert sorted(store.delete_subject("bob")) == sorted(r.face_id for r in bob)
    assert [r.subject for r in store.all()] == ["ann"]
    assert store.delete_subject("nobody") == []
    store.close()


def test_a_file_that_is_not_a_database_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "g.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(GalleryError, match="cannot open the gallery database"):
        SqliteFaceStore(path)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "g.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version=99")
    with pytest.raises(GalleryError, match="schema version 99 is newer"):
        SqliteFaceStore(path)
