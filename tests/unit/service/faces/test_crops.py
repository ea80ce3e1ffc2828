"""Face crops in the gallery (issue 17): stored in the enrolment's transaction, deleted with
their face, a version-1 file upgraded in place, and ``reembed`` from the crops or refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import cv2
import numpy as np
import pytest

from service.faces import Gallery, NewFace, SqliteFaceStore
from service.faces.reembed import ReembedError, reembed
from tests.unit.service.api.face_fakes import FakeEmbedder


def crop(value: int) -> bytes:
    pixels = np.zeros((112, 112, 3), np.uint8)
    pixels[..., 0] = value  # blue in cv2's BGR: the fake embedder sees it as the third channel
    return bytes(cv2.imencode(".png", pixels)[1].tobytes())


def new_face(value: int, with_crop: bool = True) -> NewFace:
    vector = np.array([1.0, 0.0, 0.0], np.float32)
    return NewFace(vector, (0.0, 0.0, 1.0, 1.0), crop(value) if with_crop else None)


def test_crops_are_kept_and_go_with_their_face(tmp_path: Path) -> None:
    gallery = Gallery(SqliteFaceStore(tmp_path / "g.sqlite3"))
    gallery.sync()
    first, second = gallery.enrol("ann", "m", [new_face(10), new_face(20, with_crop=False)])
    assert gallery.crop(first.face_id) == crop(10)
    assert gallery.crop(second.face_id) is None

    gallery.delete_face("ann", first.face_id)
    assert gallery.crop(first.face_id) is None
    with sqlite3.connect(tmp_path / "g.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM face_crops").fetchone() == (0,)
    gallery.close()


def test_a_version_1_file_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "g.sqlite3"
    SqliteFaceStore(path).close()
    with sqlite3.connect(path) as db:  # as version 1 left it: no crops table
        db.execute("DROP TABLE face_crops")
        db.execute("PRAGMA user_version=1")
    store = SqliteFaceStore(path)
    (record,) = store.add("ann", "m", [new_face(5)])
    assert store.crop(record.face_id) == crop(5)
    store.close()


def test_reembed_from_crops_moves_every_face(tmp_path: Path) -> None:
    gallery = Gallery(SqliteFaceStore(tmp_path / "g.sqlite3"))
    gallery.sync()
    gallery.enrol("ann", "old-model", [new_face(200)])
    gallery.enrol("bob", "old-model", [new_face(90)])
    assert reembed(gallery, FakeEmbedder("new-model")) == 2

    faces = gallery.subjects()
    assert {f.model for fs in faces.values() for f in fs} == {"new-model"}
    query = np.array([[0.0, 0.0, 1.0]], np.float32)  # the fake's vector of a blue crop
    (match,) = gallery.search("new-model", query, threshold=0.9, top_k=2)
    assert match.subject == "ann" and match.similarity == pytest.approx(1.0)
    assert gallery.search("old-model", query, threshold=0.9, top_k=2)[0].subject is None
    gallery.close()

    reopened = Gallery(SqliteFaceStore(tmp_path / "g.sqlite3"))  # the move was committed

    reopened.sync()
    assert {f.model for fs in reopened.subjects().values() for f in fs} == {"new-model"}
    reopened.close()


def test_reembed_without_every_crop_refuses_whole(tmp_path: Path) -> None:
    gallery = Gallery(SqliteFaceStore(tmp_path / "g.sqlite3"))
    gallery.sync()
    gallery.enrol("ann", "old-model", [new_face(200), new_face(50, with_crop=False)])
    with pytest.raises(ReembedError, match="1 of 2 faces have no stored crop"):
        reembed(gallery, FakeEmbedder("new-model"))
    assert {f.model for fs in gallery.subjects().values() for f in fs} == {"old-model"}
    gallery.close()


def test_rename_merges_into_an_existing_subject(tmp_path: Path) -> None:
    gallery = Gallery(SqliteFaceStore(tmp_path / "g.sqlite3"))
    gallery.sync()
    gallery.enrol("ann", "m", [new_face(1)])
    gallery.enrol("bob", "m", [new_face(2)])
    assert gallery.rename_subject("ann", "bob") == 1
    assert {s: len(f) for s, f in gallery.subjects().items()} == {"bob": 2}
    gallery.close()
