"""The in-memory gallery changes only through sync(): loading, catching up with another
writer on the same file, and answering 503 until the first load."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from service.faces import (
    FaceStore,
    Gallery,
    GalleryChanges,
    GalleryUnavailableError,
    NewFace,
    SqliteFaceStore,
)

DIM = 8


def unit(axis: int) -> NDArray[np.float32]:
    return np.eye(DIM, dtype=np.float32)[axis]


def faces(*axes: int) -> list[NewFace]:
    return [NewFace(unit(a), (1.0, 2.0, 3.5, 4.25)) for a in axes]


class CountingStore(SqliteFaceStore):
    """The real store, counting how the gallery reads it."""

    loads = 0
    incremental = 0

    def load(self) -> GalleryChanges:
        self.loads += 1
        return super().load()

    def changes_since(self, version: int) -> GalleryChanges | None:
        changes = super().changes_since(version)
        self.incremental += changes is not None
        return changes


def best(gallery: Gallery, axis: int) -> str | None:
    (match,) = gallery.search("m", unit(axis)[None], threshold=0.9, top_k=1)
    return match.subject


def listing(gallery: Gallery) -> dict[str, list[str]]:
    return {s: [r.face_id for r in rs] for s, rs in gallery.subjects().items()}


def test_a_new_gallery_is_unavailable_until_loaded(tmp_path: Path) -> None:
    store = SqliteFaceStore(tmp_path / "g.sqlite3")
    store.add("ann", "m", faces(0))
    gallery = Gallery(store)  # constructing it reads nothing
    assert (gallery.ready, gallery.version) == (False, 0)
    calls: list[Callable[[], object]] = [
        lambda: gallery.search("m", unit(0)[None], threshold=0.5, top_k=1),
        gallery.subjects,
        lambda: gallery.face("0" * 32),
        lambda: gallery.enrol("bob", "m", faces(1)),
        lambda: gallery.delete_subject("ann"),
    ]
    for call in calls:
        with pytest.raises(GalleryUnavailableError, match="still loading") as caught:
            call()
        assert caught.value.retry_after_s > 0
    assert store.version() == 1  # the refused enrolment stored nothing

    gallery.load_in_background().join(timeout=30)
    assert (gallery.ready, gallery.version) == (True, 1)
    assert best(gallery, 0) == "ann"


def test_a_second_gallery_on_the_file_catches_up_through_sync(tmp_path: Path) -> None:
    path = tmp_path / "g.sqlite3"
    a = Gallery(SqliteFaceStore(path))
    a.sync()
    b = Gallery(CountingStore(path))
    b.sync()
    (ann,) = a.enrol("ann", "m", faces(0))
    a.enrol("bob", "m", faces(1, 2))
    assert best(b, 0) is None  # b changes only when it syncs
    assert b.sync() == a.version == 2
    assert best(b, 0) == "ann" and listing(b) == listing(a)

    a.delete_face("bob", listing(a)["bob"][0])
    a.delete_subject("ann")
    a.enrol("carl", "m", faces(3))
    b.sync()
    assert [best(b, axis) for axis in range(4)] == [None, None, "bob", "carl"]
    assert listing(b) == listing(a) and b.face(ann.face_id) is None
    assert isinstance(b.store, CountingStore) and (b.store.loads, b.store.incremental) == (1, 2)

    a.rename_subject("bob", "carl")  # a rename cannot be replayed: b loads in full
    assert b.store.changes_since(b.version) is None
    b.sync()
    assert b.store.loads == 2
    assert listing(b) == listing(a) == {"carl": listing(a)["carl"]}
    assert [best(b, axis) for axis in range(4)] == [None, None, "carl", "carl"]


def test_sync_on_a_current_gallery_changes_nothing(tmp_path: Path) -> None:
    gallery = Gallery(CountingStore(tmp_path / "g.sqlite3"))
    gallery.sync()
    gallery.enrol("ann", "m", faces(0))
    before = listing(gallery)
    assert gallery.sync() == gallery.sync() == 1
    assert listing(gallery) == before
    assert isinstance(gallery.store, CountingStore) and gallery.store.loads == 1


def test_listed_faces_are_rebuilt_from_the_columns(tmp_path: Path) -> None:
    gallery = Gallery(SqliteFaceStore(tmp_path / "g.sqlite3"))
    gallery.sync()
    first = gallery.enrol("ann", "m", faces(0, 1))
    gallery.enrol("bob", "other", [NewFace(np.ones(3, np.float32) / np.sqrt(3), (5, 6, 7, 8))])
    second = gallery.enrol("ann", "m", faces(2))
    listed = gallery.subjects()
    assert list(listed) == ["ann", "bob"] and len(listed) == 2
    assert [r.face_id for r in listed["ann"]] == [r.face_id for r in first + second]
    for stored, shown in zip(first + second, listed["ann"], strict=True):
        assert (shown.subject, shown.model, shown.box) == ("ann", "m", stored.box)
        assert shown.created_at == stored.created_at
        np.testing.assert_array_equal(shown.embedding, stored.embedding)
    found = gallery.face(second[0].face_id)
    assert found is not None and (found.face_id, found.subject) == (second[0].face_id, "ann")
    assert gallery.face("not an id") is None and gallery.face("F" * 32) is None


def test_a_listing_stays_as_it_was_while_the_gallery_changes(tmp_path: Path) -> None:
    gallery = Gallery(SqliteFaceStore(tmp_path / "g.sqlite3"))
    gallery.sync()
    (ann,) = gallery.enrol("ann", "m", faces(0))
    listed = gallery.subjects()
    gallery.delete_subject("ann")
    for i in range(70):  # past the spare rows: the columns are replaced
        gallery.enrol(f"s{i}", "m", faces(i % DIM))
    assert [r.face_id for r in listed["ann"]] == [ann.face_id]
    assert "ann" not in gallery.subjects()


def test_searches_during_a_full_reload_see_the_old_or_the_new_gallery(tmp_path: Path) -> None:
    gallery = Gallery(SqliteFaceStore(tmp_path / "g.sqlite3"))
    gallery.sync()
    gallery.enrol("ann", "m", faces(0))
    seen: set[str | None] = set()
    stop = threading.Event()

    def search() -> None:
        while not stop.is_set():
            seen.add(best(gallery, 0))

    searcher = threading.Thread(target=search)
    searcher.start()
    for i in range(20):
        gallery.rename_subject("ann" if i % 2 == 0 else "anna", "anna" if i % 2 == 0 else "ann")
    stop.set()
    searcher.join()
    assert seen <= {"ann", "anna"} and seen


def test_a_failed_background_load_leaves_the_gallery_unavailable(tmp_path: Path) -> None:
    class Down(SqliteFaceStore):
        def load(self) -> GalleryChanges:
            raise GalleryUnavailableError("the gallery database is unreachable", retry_after_s=2)

    store: FaceStore = Down(tmp_path / "g.sqlite3")
    gallery = Gallery(store)
    gallery.load_in_background().join(timeout=30)
    assert not gallery.ready
    with pytest.raises(GalleryUnavailableError):
        gallery.subjects()


def test_after_many_deletions_the_codes_are_renumbered_and_answers_stay(tmp_path: Path) -> None:
    path = tmp_path / "g.sqlite3"
    writer = Gallery(SqliteFaceStore(path, durable=False))  # no fsync: 2,500 writes
    writer.sync()
    for i in range(1_300):  # two faces each: every subject ties on either axis
        writer.enrol(f"s{i}", "m", faces(i % 2, 2 + i % 2))
    reader = Gallery(SqliteFaceStore(path))
    reader.sync()
    for i in range(1_200):
        writer.delete_subject(f"s{i}")
    reader.sync()  # 1,200 dead codes against 100 live ones: renumbered
    (match,) = reader.search("m", unit(0)[None], threshold=0.9, top_k=3)
    assert [c.subject for c in match.candidates] == ["s1200", "s1202", "s1204"]
    assert list(reader.subjects()) == [f"s{i}" for i in range(1_200, 1_300)]


def test_a_subject_enrolled_elsewhere_can_be_deleted_before_the_next_sync(tmp_path: Path) -> None:
    path = tmp_path / "g.sqlite3"
    a, b = Gallery(SqliteFaceStore(path)), Gallery(SqliteFaceStore(path))
    a.sync()
    b.sync()
    a.enrol("ann", "m", faces(0))
    assert b.delete_subject("ann") == 1  # b catches up instead of answering "unknown"
    a.sync()
    assert best(a, 0) is None and list(a.subjects()) == []


def test_listings_do_not_wait_for_a_first_load_in_progress(tmp_path: Path) -> None:
    loading, release = threading.Event(), threading.Event()

    class Slow(SqliteFaceStore):
        def load(self) -> GalleryChanges:
            loading.set()
            release.wait(timeout=30)
            return super().load()

    gallery = Gallery(Slow(tmp_path / "g.sqlite3"))
    loader = gallery.load_in_background()
    assert loading.wait(timeout=30)
    with pytest.raises(GalleryUnavailableError):
        gallery.subjects()  # at once, though the loader holds the lock
    with pytest.raises(GalleryUnavailableError):
        gallery.delete_subject("ann")
    release.set()
    loader.join(timeout=30)
    assert gallery.ready and dict(gallery.subjects()) == {}


class ReadsFailAfterWrites(SqliteFaceStore):
    """The real store whose reads fail while ``down``: a database lost between a write's
    commit and the gallery's catch-up read."""

    down = False

    def load(self) -> GalleryChanges:
        if self.down:
            raise GalleryUnavailableError("the database went away")
        return super().load()

    def changes_since(self, version: int) -> GalleryChanges | None:
        if self.down:
            raise GalleryUnavailableError("the database went away")
        return super().changes_since(version)


def test_a_committed_write_answers_as_done_when_the_catch_up_read_fails(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A 503 for a write that happened would make the client enrol the same faces again."""
    store = ReadsFailAfterWrites(tmp_path / "g.sqlite3")
    gallery = Gallery(store)
    gallery.sync()
    gallery.enrol("ann", "m", faces(0))
    store.down = True
    records = gallery.enrol("bob", "m", faces(1))  # committed; the read after it fails
    assert [r.subject for r in records] == ["bob"]
    assert "committed gallery write" in caplog.text
    assert listing(gallery).keys() == {"ann"}  # not in memory yet
    gallery.delete_face("ann", listing(gallery)["ann"][0])  # committed too, no error
    store.down = False
    gallery.sync()  # the next sync catches both up
    assert set(listing(gallery)) == {"bob"}
    assert best(gallery, 1) == "bob"
    fresh = Gallery(SqliteFaceStore(tmp_path / "g.sqlite3"))
    fresh.sync()
    assert {s: len(ids) for s, ids in listing(fresh).items()} == {"bob": 1}  # each write once
