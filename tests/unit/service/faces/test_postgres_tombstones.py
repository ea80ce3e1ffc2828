"""Tombstones of the PostgreSQL store (a real server, tests/support/postgres.py) are pruned after
a retention: a replica behind the pruned history reloads in full, one ahead of it keeps getting
deltas, and a schema-1 database (tombstones without a time) is upgraded in place. Also
``reembed`` on a PostgreSQL gallery."""

from __future__ import annotations

import numpy as np
import psycopg

from service.faces import Gallery
from service.faces.postgres_store import SCHEMA_VERSION, PostgresFaceStore
from service.faces.reembed import reembed
from service.faces.stores import open_store
from service.settings import Settings
from tests.support.postgres import postgres
from tests.unit.service.api.face_fakes import FakeEmbedder
from tests.unit.service.faces.test_crops import new_face
from tests.unit.service.faces.test_gallery_sync import faces, listing
from tests.unit.service.faces.test_postgres_store import store, url

# The server, a fresh database and a store on it per test: fixtures used by name below.
__all__ = ["postgres", "store", "url"]


def query(url: str, sql: str, *params: object) -> list[tuple[object, ...]]:
    with psycopg.connect(url, autocommit=True) as db:
        cursor = db.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def tombstones(url: str) -> list[tuple[object, ...]]:
    return query(url, "SELECT face_id, version FROM face_removals ORDER BY version")


def pruned_version(url: str) -> object:
    return query(url, "SELECT pruned_version FROM gallery_meta")[0][0]


def age(url: str, days: float, *, version: int | None = None) -> None:
    """Make the tombstones of ``version`` (all when None) ``days`` older."""
    query(
        url,
        "UPDATE face_removals SET removed_at = removed_at - make_interval(secs => %s) "
        "WHERE %s::bigint IS NULL OR version = %s",
        days * 86_400.0,
        version,
        version,
    )


def test_a_deletion_prunes_only_the_tombstones_older_than_the_retention(
    url: str, store: PostgresFaceStore
) -> None:
    a, b, c = store.add("ann", "m", faces(0, 1, 2))  # version 1
    store.delete_face("ann", a.face_id)  # 2
    store.delete_face("ann", b.face_id)  # 3
    age(url, 8, version=2)
    age(url, 6, version=3)
    store.delete_face("ann", c.face_id)  # 4: prunes version 2's only (7 days by default)
    assert tombstones(url) == [(b.face_id, 3), (c.face_id, 4)]
    assert pruned_version(url) == 2
    assert store.changes_since(1) is None  # it would miss a's deletion: load in full
    changes = store.changes_since(2)
    assert changes is not None and changes.removed == [b.face_id, c.face_id]

    starting = PostgresFaceStore(url, tombstone_days=5)
    assert starting.version() == 4  # its first use prunes, by its retention
    starting.close()
    assert tombstones(url) == [(c.face_id, 4)]
    assert pruned_version(url) == 3


def test_a_replica_behind_the_pruned_history_reloads_and_one_ahead_goes_on(url: str) -> None:
    writer = Gallery(PostgresFaceStore(url))
    writer.sync()
    ann = writer.enrol("ann", "m", faces(0, 1))  # version 1
    bob = writer.enrol("bob", "m", faces(2))  # 2
    behind = Gallery(PostgresFaceStore(url))
    behind.sync()  # at 2
    writer.delete_face("ann", ann[0].face_id)  # 3
    ahead = Gallery(PostgresFaceStore(url))
    ahead.sync()  # at 3
    age(url, 8)  # version 3's tombstone is now past the retention
    carl = writer.enrol("carl", "m", faces(3))  # 4
    writer.delete_subject("bob")  # 5: prunes version 3's tombstone
    assert tombstones(url) == [(bob[0].face_id, 5)]
    assert behind.store.changes_since(behind.version) is None  # so its sync loads in full
    delta = ahead.store.changes_since(ahead.version)
    assert delta is not None and delta.removed == [bob[0].face_id]

    behind.sync()
    ahead.sync()
    expected = {"ann": [ann[1].face_id], "carl": [carl[0].face_id]}
    assert listing(behind) == listing(ahead) == listing(writer) == expected
    assert behind.version == ahead.version == 5
    for gallery in (writer, behind, ahead):
        gallery.close()


def test_open_store_chooses_postgresql_with_the_retention_setting(url: str) -> None:
    store = open_store(Settings(gallery_url=url, gallery_tombstone_days=1, gallery_pool_size=1))
    assert isinstance(store, PostgresFaceStore)
    a, b = store.add("ann", "m", faces(0, 1))
    store.delete_face("ann", a.face_id)
    age(url, 2)  # past one day, well within the default seven
    store.delete_face("ann", b.face_id)
    assert tombstones(url) == [(b.face_id, 3)]
    store.close()


# The schema as version 1 of the PostgreSQL store created it: tombstones without a time.
SCHEMA_1 = """
CREATE TABLE gallery_meta (
    one            boolean PRIMARY KEY DEFAULT true CHECK (one),
    schema_version integer NOT NULL,
    version        bigint  NOT NULL,
    reset_version  bigint  NOT NULL
);
CREATE TABLE faces (
    seq        bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    face_id    text PRIMARY KEY CHECK (octet_length(face_id) = 32),
    subject    text NOT NULL,
    model      text NOT NULL,
    dim        integer NOT NULL,
    embedding  bytea NOT NULL CHECK (octet_length(embedding) = 4 * dim),
    x1 real NOT NULL, y1 real NOT NULL, x2 real NOT NULL, y2 real NOT NULL,
    created_at double precision NOT NULL,
    version    bigint NOT NULL
);
CREATE INDEX faces_subject ON faces (subject);
CREATE INDEX faces_model_seq ON faces (model, seq);
CREATE INDEX faces_version ON faces (version);
CREATE TABLE face_crops (
    face_id text PRIMARY KEY REFERENCES faces (face_id) ON DELETE CASCADE,
    png     bytea NOT NULL
);
CREATE TABLE face_removals (
    face_id text NOT NULL,
    version bigint NOT NULL
);
CREATE INDEX face_removals_version ON face_removals (version);
"""


def test_a_schema_1_database_is_upgraded_in_place_keeping_its_tombstones(url: str) -> None:
    ids = [f"{i:032x}" for i in (7, 3, 9)]
    new = faces(0, 1, 2)
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(SCHEMA_1)
        db.execute("INSERT INTO gallery_meta VALUES (true, 1, 4, 2)")  # a rename at 2
        rows = zip(ids, ["ann", "bob", "ann"], [1, 1, 2], new, strict=True)
        for face_id, subject, version, face in rows:
            db.execute(
                "INSERT INTO faces (face_id, subject, model, dim, embedding, x1, y1, x2, y2, "
                "created_at, version) VALUES (%s, %s, 'm', 8, %s, 1, 2, 3, 4, 1e9, %s)",
                (face_id, subject, face.embedding.tobytes(), version),
            )
        db.execute("INSERT INTO face_crops VALUES (%s, 'png')", (ids[2],))
        db.execute("DELETE FROM faces WHERE face_id = %s", (ids[1],))
        db.execute("INSERT INTO face_removals VALUES (%s, 3)", (ids[1],))

    store = PostgresFaceStore(url, tombstone_days=1)
    assert store.version() == 4
    (columns,) = store.load().added
    assert (columns.face_ids, columns.subjects) == ([ids[0], ids[2]], ["ann", "ann"])
    np.testing.assert_array_equal(columns.embeddings[1], new[2].embedding)
    assert store.crop(ids[2]) == b"png"
    assert store.changes_since(1) is None  # the rename's reset is kept
    changes = store.changes_since(2)
    assert changes is not None and changes.removed == [ids[1]]  # the old tombstone is kept
    assert query(url, "SELECT schema_version, pruned_version FROM gallery_meta") == [
        (SCHEMA_VERSION, 0)
    ]
    assert query(url, "SELECT now() - removed_at < interval '1 minute' FROM face_removals") == [
        (True,)
    ]  # aged from the upgrade: kept a retention from now

    store.delete_subject("ann")  # version 5; the old tombstone is not a day old yet
    assert tombstones(url) == [(ids[1], 3), (ids[0], 5), (ids[2], 5)]
    store.close()
    age(url, 2, version=3)
    reopened = PostgresFaceStore(url, tombstone_days=1)
    assert reopened.version() == 5  # its first use prunes the now old tombstone, nothing else
    reopened.close()
    assert tombstones(url) == [(ids[0], 5), (ids[2], 5)]
    assert pruned_version(url) == 3


def test_reembed_moves_a_postgresql_gallery(url: str, store: PostgresFaceStore) -> None:
    gallery = Gallery(store)
    gallery.sync()
    gallery.enrol("ann", "old-model", [new_face(200)])
    gallery.enrol("bob", "old-model", [new_face(90)])
    other = Gallery(PostgresFaceStore(url))  # another replica, synced before the move
    other.sync()

    assert reembed(gallery, FakeEmbedder("new-model")) == 2
    other.sync()  # the move is a reset: a full load
    query_vector = np.array([[0.0, 0.0, 1.0]], np.float32)  # the fake's vector of a blue crop
    for replica in (gallery, other):
        assert {f.model for fs in replica.subjects().values() for f in fs} == {"new-model"}
        (match,) = replica.search("new-model", query_vector, threshold=0.9, top_k=2)
        assert match.subject == "ann"
    other.close()
