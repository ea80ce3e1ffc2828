"""PostgresFaceStore against a real PostgreSQL server (tests/support/postgres.py starts one)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import numpy as np
import psycopg
import pytest

from service.faces import GalleryChanges, GalleryUnavailableError, NewFace, SqliteFaceStore
from service.faces.postgres_store import CHANNEL, PostgresFaceStore
from tests.support.postgres import PostgresServer, postgres, postgres_server
from tests.unit.service.faces.read_only import set_read_only

__all__ = ["postgres"]  # the module-scoped server fixture, used by name below


def face(seed: int, dim: int = 8, crop: bytes | None = None) -> NewFace:
    vector = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    box = (seed, seed + 1.5, seed + 10, seed + 20.25)
    return NewFace(vector / np.linalg.norm(vector), box, crop)


@pytest.fixture
def url(postgres: PostgresServer) -> str:
    """A fresh, empty database for each test."""
    return postgres.create_database(f"t{uuid.uuid4().hex[:12]}")


@pytest.fixture
def store(url: str) -> Iterator[PostgresFaceStore]:
    store = PostgresFaceStore(url, pool_size=2)
    yield store
    store.close()


def test_faces_round_trip_exactly_with_crops(store: PostgresFaceStore) -> None:
    added = store.add("ann", "embedder-a", [face(1, crop=b"png-1"), face(2)])
    store.add("bob", "embedder-a", [face(3)])
    records = store.all()
    assert [r.subject for r in records] == ["ann", "ann", "bob"]
    assert [r.face_id for r in records[:2]] == [r.face_id for r in added]
    for record, expected in zip(records, [face(1), face(2), face(3)], strict=True):
        np.testing.assert_array_equal(record.embedding, expected.embedding)
        assert record.box == expected.box
        assert record.model == "embedder-a"
        assert record.created_at == pytest.approx(added[0].created_at, abs=60)
    assert store.crop(added[0].face_id) == b"png-1"
    assert store.crop(added[1].face_id) is None
    assert store.crops() == {added[0].face_id: b"png-1"}


def test_a_crop_goes_with_its_face(store: PostgresFaceStore) -> None:
    (kept,) = store.add("ann", "m", [face(1, crop=b"png")])
    assert store.delete_face("ann", kept.face_id) is True
    assert store.crops() == {}


def test_load_groups_faces_by_model_in_columns(store: PostgresFaceStore) -> None:
    store.add("ann", "small", [face(1, dim=4), face(2, dim=4)])
    store.add("bob", "large", [face(3, dim=16)])
    store.add("cat", "small", [face(4, dim=4)])
    loaded = store.load()
    assert loaded.version == 3
    assert loaded.removed == []
    assert [g.model for g in loaded.added] == ["small", "large"]
    small = loaded.added[0]
    assert small.subjects == ["ann", "ann", "cat"]
    assert small.embeddings.shape == (3, 4)
    assert small.embeddings.dtype == np.float32
    np.testing.assert_array_equal(small.embeddings[2], face(4, dim=4).embedding)
    np.testing.assert_array_equal(small.boxes[1], np.array(face(2).box, np.float32))
    assert small.created_at.dtype == np.float64
    assert [len(i) for i in small.face_ids] == [32, 32, 32]


def test_all_lists_faces_oldest_first_across_models(store: PostgresFaceStore) -> None:
    store.add("ann", "small", [face(1, dim=4)])
    store.add("bob", "large", [face(2, dim=16)])
    store.add("cat", "small", [face(3, dim=4)])
    records = store.all()
    assert [(r.subject, r.model, r.embedding.size) for r in records] == [
        ("ann", "small", 4),
        ("bob", "large", 16),
        ("cat", "small", 4),
    ]
    np.testing.assert_array_equal(records[1].embedding, face(2, dim=16).embedding)


def test_every_write_bumps_the_version_once(store: PostgresFaceStore) -> None:
    assert store.version() == 0
    ann = store.add("ann", "m", [face(1), face(2)])
    assert store.version() == 1
    store.delete_face("ann", ann[0].face_id)
    assert store.version() == 2
    store.rename_subject("ann", "anna")
    assert store.version() == 3
    store.replace_embeddings("m2", {ann[1].face_id: face(9).embedding})
    assert store.version() == 4
    store.delete_subject("anna")
    assert store.version() == 5


def test_changes_since_gives_additions_and_tombstones(store: PostgresFaceStore) -> None:
    ann = store.add("ann", "m", [face(1), face(2)])  # version 1
    bob = store.add("bob", "m", [face(3)])  # version 2
    store.delete_face("ann", ann[0].face_id)  # version 3
    changes = store.changes_since(1)
    assert changes is not None
    assert changes.version == 3
    assert [g.face_ids for g in changes.added] == [[bob[0].face_id]]
    assert changes.removed == [ann[0].face_id]
    assert store.changes_since(3) == GalleryChanges(3, [], [])
    assert store.changes_since(4) is None  # a reader ahead of the store: another database


def test_a_rename_or_reembedding_makes_older_readers_load_in_full(
    store: PostgresFaceStore,
) -> None:
    ann = store.add("ann", "m", [face(1)])  # version 1
    store.rename_subject("ann", "anna")  # version 2
    assert store.changes_since(1) is None
    assert store.changes_since(2) == GalleryChanges(2, [], [])
    store.add("bob", "m", [face(2)])  # version 3
    after = store.changes_since(2)
    assert after is not None and [g.subjects for g in after.added] == [["bob"]]
    store.replace_embeddings("m", {ann[0].face_id: face(5).embedding})  # version 4
    assert store.changes_since(3) is None


def test_behaviour_equals_the_sqlite_store(store: PostgresFaceStore, tmp_path: Path) -> None:
    sqlite = SqliteFaceStore(tmp_path / "g.sqlite3", durable=False)

    def script(s: PostgresFaceStore | SqliteFaceStore) -> list[object]:
        trace: list[object] = [s.version()]
        ann = s.add("ann", "m", [face(1), face(2)])
        s.add("bob", "m", [face(3)])
        trace += [s.delete_face("ann", ann[0].face_id), s.delete_face("bob", ann[1].face_id)]
        trace += [len(s.delete_subject("nobody")), s.version()]
        since = s.changes_since(1)
        assert since is not None
        trace += [since.version, [g.subjects for g in since.added], len(since.removed)]
        trace += [s.rename_subject("bob", "ann"), s.changes_since(1), s.version()]
        loaded = s.load()
        trace += [
            loaded.version,
            [(g.model, g.subjects, g.embeddings.tolist()) for g in loaded.added],
        ]
        trace += [[(r.subject, r.box, r.embedding.tolist()) for r in s.all()]]
        return trace

    try:
        assert script(store) == script(sqlite)
    finally:
        sqlite.close()


def test_a_failing_enrolment_stores_nothing_and_keeps_the_version(
    store: PostgresFaceStore,
) -> None:
    store.add("ann", "m", [face(1)])
    broken = NewFace(face(2).embedding, (None, 0.0, 1.0, 1.0))  # type: ignore[arg-type]
    with pytest.raises(psycopg.errors.NotNullViolation):
        store.add("bob", "m", [face(3), broken])
    assert [r.subject for r in store.all()] == ["ann"]
    assert store.version() == 1


def test_each_write_notifies_its_version_after_commit(store: PostgresFaceStore, url: str) -> None:
    store.version()  # the schema exists
    with psycopg.connect(url, autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        store.add("ann", "m", [face(1)])
        store.delete_subject("ann")
        payloads = [n.payload for n in listener.notifies(timeout=5, stop_after=2)]
    assert payloads == ["1", "2"]


def test_replicas_starting_at_once_migrate_safely(url: str) -> None:
    count = 8
    barrier = threading.Barrier(count)
    versions: list[int] = []
    errors: list[BaseException] = []

    def start() -> None:
        barrier.wait()
        store = PostgresFaceStore(url, pool_size=1)
        try:
            versions.append(store.version())
        except BaseException as error:
            errors.append(error)
        finally:
            store.close()

    threads = [threading.Thread(target=start) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert versions == [0] * count
    with psycopg.connect(url) as connection:
        assert connection.execute("SELECT count(*) FROM gallery_meta").fetchone() == (1,)


def test_an_outage_is_unavailable_then_recovers_by_itself() -> None:
    with postgres_server() as server:
        store = PostgresFaceStore(server.url, pool_size=2, timeout_s=1)
        try:
            store.add("ann", "m", [face(1)])
            server.stop()
            with pytest.raises(GalleryUnavailableError) as raised:
                store.add("bob", "m", [face(2), face(3)])
            assert raised.value.retry_after_s > 0
            with pytest.raises(GalleryUnavailableError):
                store.changes_since(0)
            server.start()
            assert [r.subject for r in store.all()] == ["ann"]  # nothing of bob half-stored
            assert store.version() == 1
            store.add("carl", "m", [face(4)])
            assert [r.subject for r in store.all()] == ["ann", "carl"]
        finally:
            store.close()


def test_a_database_down_at_start_up_is_migrated_when_it_comes_up() -> None:
    with postgres_server() as server:
        server.stop()
        store = PostgresFaceStore(server.url, pool_size=1, timeout_s=1)
        try:
            with pytest.raises(GalleryUnavailableError):
                store.version()
            server.start()
            assert store.version() == 0
        finally:
            store.close()


def test_a_read_only_database_refuses_writes_as_unavailable_and_still_reads(
    store: PostgresFaceStore, url: str
) -> None:
    store.add("ann", "m", [face(1)])
    set_read_only(url, True)
    writes: list[Callable[[], object]] = [
        partial(store.add, "bob", "m", [face(2)]),
        partial(store.delete_subject, "ann"),
        partial(store.rename_subject, "ann", "anna"),
    ]
    for write in writes:
        with pytest.raises(GalleryUnavailableError, match="read-only") as raised:
            write()
        assert raised.value.retry_after_s > 0
    assert [r.subject for r in store.all()] == ["ann"]
    assert store.version() == 1

    set_read_only(url, False)  # the standby is promoted: the same store writes again
    store.add("bob", "m", [face(2)])
    assert [r.subject for r in store.all()] == ["ann", "bob"]
    assert store.version() == 2


def test_a_store_started_on_a_read_only_database_reads_without_migrating(url: str) -> None:
    writer = PostgresFaceStore(url, pool_size=1)
    writer.add("ann", "m", [face(1)])
    writer.close()
    set_read_only(url, True)
    store = PostgresFaceStore(url, pool_size=1)
    try:
        assert store.version() == 1
        assert [columns.subjects for columns in store.load().added] == [["ann"]]
        with pytest.raises(GalleryUnavailableError, match="read-only"):
            store.add("bob", "m", [face(2)])
    finally:
        store.close()


def test_a_read_only_database_without_a_gallery_is_unavailable(url: str) -> None:
    set_read_only(url, True)
    store = PostgresFaceStore(url, pool_size=1)
    try:
        with pytest.raises(GalleryUnavailableError, match="read-only and holds no gallery"):
            store.version()
    finally:
        store.close()
