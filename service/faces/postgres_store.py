"""The gallery in PostgreSQL: one database shared by every replica (``VISION_GALLERY_URL``).

Each write is one transaction that also bumps the gallery version (a one-row table) and sends
``NOTIFY vision_gallery, '<version>'``: the notification is delivered only if the transaction
commits, after it, so a replica that is told version v and syncs sees the write. New faces carry
the version they were written at, deletions leave a tombstone, and a rename or re-embedding
records a reset version, so a replica catches up with ``changes_since`` instead of reloading.
Tombstones older than ``tombstone_days`` (by the database's clock) are pruned on the first use
and by each deletion; a replica behind the newest one pruned reloads.

Bulk loads read one snapshot in binary keyset pages straight into preallocated numpy arrays,
so a million faces never exist as a million Python objects at once. An unreachable database is
``GalleryUnavailableError`` (503), never a raw psycopg error; the pool checks connections before
lending them, so the store recovers by itself when the database returns. So is a database that
is reachable but read-only (a hot standby after a failover, ``default_transaction_read_only``):
its writes are refused with a 503 until it takes writes again, and reads go on being served.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import psycopg
from numpy.typing import NDArray
from psycopg.errors import ReadOnlySqlTransaction
from psycopg_pool import ConnectionPool, PoolTimeout

from service.faces.store import (
    TOMBSTONE_DAYS,
    FaceColumns,
    FaceRecord,
    GalleryChanges,
    GalleryError,
    GalleryUnavailableError,
    NewFace,
    face_row,
    new_records,
)

CHANNEL = "vision_gallery"  # NOTIFY channel; the payload is the new gallery version
SCHEMA_VERSION = 2  # 2: face_removals.removed_at, gallery_meta.pruned_version
_MIGRATION_LOCK = 0x76697369  # pg_advisory_xact_lock key: one replica migrates at a time
# Schema 1, as a new database starts; the upgrades below follow in the same transaction.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS gallery_meta (
    one            boolean PRIMARY KEY DEFAULT true CHECK (one),
    schema_version integer NOT NULL,
    version        bigint  NOT NULL,
    reset_version  bigint  NOT NULL
);
INSERT INTO gallery_meta (schema_version, version, reset_version) VALUES (1, 0, 0)
    ON CONFLICT (one) DO NOTHING;
CREATE TABLE IF NOT EXISTS faces (
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
CREATE INDEX IF NOT EXISTS faces_subject ON faces (subject);
CREATE INDEX IF NOT EXISTS faces_model_seq ON faces (model, seq);
CREATE INDEX IF NOT EXISTS faces_version ON faces (version);
CREATE TABLE IF NOT EXISTS face_crops (
    face_id text PRIMARY KEY REFERENCES faces (face_id) ON DELETE CASCADE,
    png     bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS face_removals (
    face_id text NOT NULL,
    version bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS face_removals_version ON face_removals (version);
"""
# Schema 1 -> 2, run only then (ALTER TABLE locks the table out even when it changes nothing):
# tombstones get a time to age by, those already there the upgrade's (the ALTER's now()).
_UPGRADE_TO_2 = """
ALTER TABLE gallery_meta ADD COLUMN pruned_version bigint NOT NULL DEFAULT 0;
ALTER TABLE face_removals ADD COLUMN removed_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX face_removals_removed_at ON face_removals (removed_at);
UPDATE gallery_meta SET schema_version = 2;
"""
# Forget the tombstones older than the retention (%s seconds), with every older version's, and
# record the newest version forgotten: a replica behind it must load in full.
_PRUNE = """
WITH gone AS (
    DELETE FROM face_removals WHERE version <= (
        SELECT max(version) FROM face_removals
        WHERE removed_at < now() - make_interval(secs => %s)
    ) RETURNING version
)
UPDATE gallery_meta SET pruned_version = (SELECT max(version) FROM gone)
    WHERE EXISTS (SELECT FROM gone)
"""
_BUMP = "UPDATE gallery_meta SET version = version + 1 RETURNING version"
_RESET = (
    "UPDATE gallery_meta SET version = version + 1, reset_version = version + 1 RETURNING version"
)
_BLOCK = 65536  # rows per fetch of a bulk load
Connection = psycopg.Connection[tuple[Any, ...]]
Cursor = psycopg.Cursor[tuple[Any, ...]]


class PostgresFaceStore:
    """A :class:`~service.faces.store.FaceStore` in the PostgreSQL database at ``url``."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 4,
        timeout_s: float = 3.0,
        tombstone_days: float = TOMBSTONE_DAYS,
    ) -> None:
        """Connect lazily: a database down at start-up is retried on each use.
        ``tombstone_days``: how long a deletion stays in ``changes_since`` answers."""
        self.url = url
        self._retention_s = tombstone_days * 86_400.0
        self._timeout_s = max(1, round(timeout_s))
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max(1, pool_size),
            timeout=timeout_s,
            kwargs={"autocommit": True, "connect_timeout": self._timeout_s},
            check=self._check,
            # No background reconnection with a growing backoff: the next request that needs
            # a connection opens one, at once when the database is back.
            reconnect_timeout=0,
            open=False,
            name="vision-gallery",
        )
        self._pool.open(wait=False)
        self._migrated = False  # the first use migrates: the database may come up later
        self._down = False  # the last use found the database out of reach

    def add(self, subject: str, model: str, faces: Sequence[NewFace]) -> list[FaceRecord]:
        records = new_records(subject, model, faces)
        with self._write(_BUMP) as (cursor, version):
            cursor.executemany(
                "INSERT INTO faces (face_id, subject, model, dim, embedding, x1, y1, x2, y2, "
                "created_at, version) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [face_row(r, version) for r in records],
            )
            crops = [
                (r.face_id, f.crop)
                for r, f in zip(records, faces, strict=True)
                if f.crop is not None
            ]
            if crops:
                cursor.executemany("INSERT INTO face_crops (face_id, png) VALUES (%s, %s)", crops)
        return records

    def all(self) -> list[FaceRecord]:
        with self._read() as cursor:
            cursor.execute(
                "SELECT face_id, subject, model, embedding, x1, y1, x2, y2, created_at "
                "FROM faces ORDER BY seq"
            )
            rows = cursor.fetchall()
        return [
            FaceRecord(face_id, subject, model, np.frombuffer(blob, "<f4").astype(np.float32),
                       (x1, y1, x2, y2), created_at)
            for face_id, subject, model, blob, x1, y1, x2, y2, created_at in rows
        ]  # fmt: skip

    def delete_subject(self, subject: str) -> list[str]:
        with self._write(_BUMP) as (cursor, version):
            cursor.execute(
                "WITH gone AS (DELETE FROM faces WHERE subject = %s RETURNING face_id, seq) "
                "INSERT INTO face_removals (face_id, version) "
                "SELECT face_id, %s FROM gone ORDER BY seq RETURNING face_id",
                (subject, version),
            )
            removed = [face_id for (face_id,) in cursor.fetchall()]
            self._prune(cursor)
        return removed

    def delete_face(self, subject: str, face_id: str) -> bool:
        with self._write(_BUMP) as (cursor, version):
            cursor.execute(
                "WITH gone AS (DELETE FROM faces WHERE subject = %s AND face_id = %s "
                "RETURNING face_id) INSERT INTO face_removals (face_id, version) "
                "SELECT face_id, %s FROM gone",
                (subject, face_id, version),
            )
            removed = cursor.rowcount > 0
            self._prune(cursor)
        return removed

    def crop(self, face_id: str) -> bytes | None:
        with self._read() as cursor:
            cursor.execute("SELECT png FROM face_crops WHERE face_id = %s", (face_id,))
            row = cursor.fetchone()
        return bytes(row[0]) if row else None

    def crops(self) -> dict[str, bytes]:
        with self._read() as cursor:
            cursor.execute("SELECT face_id, png FROM face_crops")
            return {face_id: bytes(png) for face_id, png in cursor.fetchall()}

    def rename_subject(self, subject: str, new: str) -> int:
        with self._write(_RESET) as (cursor, _):
            cursor.execute("UPDATE faces SET subject = %s WHERE subject = %s", (new, subject))
            return cursor.rowcount

    def replace_embeddings(self, model: str, embeddings: dict[str, NDArray[np.float32]]) -> None:
        with self._write(_RESET) as (cursor, _):
            cursor.executemany(
                "UPDATE faces SET model = %s, dim = %s, embedding = %s WHERE face_id = %s",
                [
                    (model, int(v.size), np.asarray(v, "<f4").tobytes(), face_id)
                    for face_id, v in embeddings.items()
                ],
            )

    def version(self) -> int:
        with self._read() as cursor:
            cursor.execute("SELECT version FROM gallery_meta")
            return int(_one(cursor)[0])

    def load(self) -> GalleryChanges:
        with self._read() as cursor, _gc_paused():
            cursor.execute("SELECT version FROM gallery_meta")
            version = int(_one(cursor)[0])
            return GalleryChanges(version, _columns(cursor.connection, after=None), [])

    def changes_since(self, version: int) -> GalleryChanges | None:
        with self._read() as cursor:
            cursor.execute(
                "SELECT version, greatest(reset_version, pruned_version) FROM gallery_meta"
            )
            now, reset = _one(cursor)
            if version < reset or version > now:  # reset or pruned since, or another store
                return None
            if version == now:
                return GalleryChanges(int(now), [], [])
            cursor.execute(
                "SELECT face_id FROM face_removals WHERE version > %s ORDER BY version", (version,)
            )
            removed = [face_id for (face_id,) in cursor.fetchall()]
            return GalleryChanges(int(now), _columns(cursor.connection, after=version), removed)

    def close(self) -> None:
        self._pool.close()

    def _check(self, connection: Connection) -> None:
        """The pool's test of a connection before lending it out.

        One dead connection means the server went away (a restart, a failover): the others
        are replaced at once, so the first request after the database returns is answered
        rather than walking through the dead ones with the pool's growing backoff.
        """
        try:
            ConnectionPool.check_connection(connection)
        except psycopg.Error:
            self._pool.check()
            raise

    def _ensure_schema(self) -> None:
        if not self._migrated:
            self._migrate()

    def _migrate(self) -> None:
        """Create or upgrade the schema and prune old tombstones; N replicas starting at once
        take turns on a lock.

        A read-only database (a standby) refuses even ``CREATE TABLE IF NOT EXISTS``, so there
        the schema, written through the primary, is only checked: reads must not fail for it.
        """
        with self._connection() as connection, connection.transaction():
            cursor = connection.cursor()
            cursor.execute(
                "SELECT current_setting('transaction_read_only') = 'on', "
                "to_regclass('gallery_meta') IS NOT NULL"
            )
            read_only, has_schema = _one(cursor)
            if not read_only:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                cursor.execute(_SCHEMA)
            elif not has_schema:
                raise GalleryUnavailableError(
                    "the gallery database is read-only and holds no gallery yet"
                )
            cursor.execute("SELECT schema_version FROM gallery_meta")
            found = int(_one(cursor)[0])
            if found > SCHEMA_VERSION:
                raise GalleryError(
                    f"the gallery database's schema version {found} is newer than this service "
                    f"understands ({SCHEMA_VERSION})"
                )
            if read_only:
                if found < SCHEMA_VERSION:
                    raise GalleryUnavailableError(
                        f"the gallery database is read-only and its schema version {found} is "
                        f"older than this service's ({SCHEMA_VERSION}): a replica on the primary "
                        "upgrades it"
                    )
            else:
                if found < SCHEMA_VERSION:
                    cursor.execute(_UPGRADE_TO_2)
                self._prune(cursor)
        self._migrated = True

    def _prune(self, cursor: Cursor) -> None:
        """Prune the old tombstones (see ``_PRUNE``), planned for this retention each time: a
        prepared plan, generic in it, guesses a third of the tombstones old and walks them all
        (10 ms a deletion at 100k tombstones, measured, instead of 0.1)."""
        cursor.execute(_PRUNE, (self._retention_s,), prepare=False)

    @contextmanager
    def _write(self, bump: str) -> Iterator[tuple[Cursor, int]]:
        """One transaction that bumps the version, notifies with it, and holds ``bump``'s lock."""
        self._ensure_schema()
        with self._connection() as connection, connection.transaction():
            cursor = connection.cursor()
            cursor.execute(bump)
            version = int(_one(cursor)[0])
            yield cursor, version
            cursor.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(version)))

    @contextmanager
    def _read(self) -> Iterator[Cursor]:
        """A read-only snapshot: every statement in it sees the same committed version."""
        self._ensure_schema()
        with self._connection() as connection, connection.transaction():
            cursor = connection.cursor()
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield cursor

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """A pooled connection; an unreachable database, a dropped connection (08xxx, 57P01
        admin_shutdown, 57P03 cannot_connect_now: all ``OperationalError``) or a write to a
        read-only database (25006) is a 503, since each passes once the database is back or
        promoted.

        While the database is known to be down, each request first tries one direct
        connection (refused at once by a stopped server) instead of queueing for the pool's
        full timeout: an outage answers 503 promptly, and the first request after it gets in.
        A read-only database is up, so it is not probed.
        """
        if self._down:
            self._probe()
        try:
            with self._pool.connection() as connection:
                yield connection
        except ReadOnlySqlTransaction as error:
            raise GalleryUnavailableError(
                f"the gallery database is read-only and takes no writes now ({_first_line(error)})"
            ) from None
        except (PoolTimeout, psycopg.OperationalError) as error:
            self._down = True
            raise _unavailable(error) from None
        self._down = False

    def _probe(self) -> None:
        try:
            psycopg.connect(self.url, connect_timeout=self._timeout_s).close()
        except psycopg.OperationalError as error:
            raise _unavailable(error) from None


def _unavailable(error: BaseException) -> GalleryUnavailableError:
    return GalleryUnavailableError(f"the gallery database cannot be reached ({_first_line(error)})")


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a bulk load makes millions of short-lived tuples
    (none of them in cycles): the collector's passes over them cost as much as the fetch."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _one(cursor: Cursor) -> tuple[Any, ...]:
    row = cursor.fetchone()
    if row is None:
        raise GalleryError("the gallery database has no gallery_meta row")
    return row


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _columns(connection: Connection, *, after: int | None) -> list[FaceColumns]:
    """The faces written after version ``after`` (all when None), one group per model."""
    where, params = ("", ()) if after is None else (" AND version > %s", (after,))
    groups = connection.execute(
        f"SELECT model, dim, count(*) FROM faces WHERE true{where} "
        "GROUP BY model, dim ORDER BY min(seq)",
        params,
    ).fetchall()
    models = [model for model, _, _ in groups]
    if len(set(models)) != len(models):
        raise GalleryError("a model's faces have embeddings of different sizes: re-embed them")
    return [
        _model_columns(connection, str(model), int(dim), int(count), where, params)
        for model, dim, count in groups
    ]


def _model_columns(
    connection: Connection,
    model: str,
    dim: int,
    count: int,
    where: str,
    params: tuple[int, ...],
) -> FaceColumns:
    """One model's faces, oldest first, read in keyset pages of the one snapshot and copied
    into preallocated arrays, so memory stays bounded by a page. The numbers of a face come as
    one fixed-width bytea (embedding, box, time), read as a numpy record: three Python objects
    per face instead of eight."""
    record = np.dtype([("embedding", "<f4", (dim,)), ("box", ">f4", (4,)), ("created", ">f8")])
    face_ids: list[str] = []
    subjects: list[str] = []
    embeddings = np.empty((count, dim), dtype=np.float32)
    boxes = np.empty((count, 4), dtype=np.float32)
    created_at = np.empty(count, dtype=np.float64)
    cursor = connection.cursor(binary=True)
    start, after_seq = 0, -1
    while True:
        cursor.execute(
            "SELECT seq, face_id, subject, embedding || float4send(x1) || float4send(y1) "
            "|| float4send(x2) || float4send(y2) || float8send(created_at) FROM faces "
            f"WHERE model = %s AND seq > %s{where} ORDER BY seq LIMIT {_BLOCK}",
            (model, after_seq, *params),
        )
        rows = cursor.fetchall()
        if not rows:
            break
        end = start + len(rows)
        seqs, ids, names, numbers = zip(*rows, strict=True)
        packed = b"".join(numbers)
        if end > count or len(packed) != len(rows) * record.itemsize:
            raise GalleryError(f"the faces of model {model!r} changed while being read")
        records = np.frombuffer(packed, dtype=record)
        face_ids += ids
        subjects += names
        embeddings[start:end] = records["embedding"]
        boxes[start:end] = records["box"]
        created_at[start:end] = records["created"]
        start, after_seq = end, seqs[-1]
    if start != count:
        raise GalleryError(f"the faces of model {model!r} changed while being read")
    return FaceColumns(model, face_ids, subjects, embeddings, boxes, created_at)
