"""The default gallery store: one SQLite file in WAL mode, one transaction per write.

``synchronous=FULL`` makes a write that was answered 201 survive a crash or power cut, and a
write cut off half-way (``kill -9`` mid-enrolment) is rolled back by SQLite on the next open:
the file only ever holds whole enrolments. Rows come back in ``rowid`` order, which is the
order of insertion among the rows that exist. One connection, serialised by a lock, is plenty:
enrolments are rare and the searches run on the in-memory matrix, not on the database.

Every write bumps the gallery version in ``gallery_meta`` inside its transaction; faces carry
the version that wrote them and deletions leave a tombstone in ``face_removals``, so a reader
(another process on the same file) catches up with :meth:`SqliteFaceStore.changes_since`.
Tombstones older than ``tombstone_days`` are pruned when the store opens and by each deletion
(the only write that adds any): their number stays bounded by the deletions of that window.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from service.faces.store import (
    TOMBSTONE_DAYS,
    FaceColumns,
    FaceRecord,
    GalleryChanges,
    GalleryError,
    GalleryFullError,
    NewFace,
    face_row,
    new_records,
)

# 2: face_crops; 3: faces.version, face_removals, gallery_meta; 4: face_removals.removed_at,
# gallery_meta.pruned_version. Older files are upgraded in place, in one transaction.
SCHEMA_VERSION = 4
_TABLES = """
CREATE TABLE IF NOT EXISTS faces (
    face_id    TEXT PRIMARY KEY,
    subject    TEXT NOT NULL,
    model      TEXT NOT NULL,
    dim        INTEGER NOT NULL,
    embedding  BLOB NOT NULL,
    x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL,
    created_at REAL NOT NULL,
    version    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS faces_subject ON faces (subject);
CREATE TABLE IF NOT EXISTS face_crops (
    face_id TEXT PRIMARY KEY REFERENCES faces (face_id) ON DELETE CASCADE,
    png     BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS face_removals (
    face_id    TEXT NOT NULL,
    version    INTEGER NOT NULL,
    removed_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS face_removals_version ON face_removals (version);
CREATE INDEX IF NOT EXISTS face_removals_removed_at ON face_removals (removed_at);
CREATE TABLE IF NOT EXISTS gallery_meta (
    one            INTEGER PRIMARY KEY CHECK (one = 1),
    version        INTEGER NOT NULL,
    reset_version  INTEGER NOT NULL,
    pruned_version INTEGER NOT NULL DEFAULT 0
);
"""
# Version-2 files: existing faces get versions 1..N in insertion order.
_UPGRADE_FACES = """
ALTER TABLE faces ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
UPDATE faces SET version = numbered.n
    FROM (SELECT rowid AS id, row_number() OVER (ORDER BY rowid) AS n FROM faces) AS numbered
    WHERE faces.rowid = numbered.id;
"""
# Version-3 files: tombstones get a time to age by (those already there: the upgrade's).
_UPGRADE_REMOVALS = (
    "ALTER TABLE face_removals ADD COLUMN removed_at REAL NOT NULL DEFAULT 0",
    "ALTER TABLE gallery_meta ADD COLUMN pruned_version INTEGER NOT NULL DEFAULT 0",
)
_COLUMNS = "face_id, subject, model, dim, embedding, x1, y1, x2, y2, created_at"
_CHUNK_ROWS = 16_384  # rows converted to arrays at a time: a full load never holds all tuples


class SqliteFaceStore:
    """A :class:`~service.faces.store.FaceStore` in the SQLite file at ``path``."""

    def __init__(
        self, path: Path, *, durable: bool = True, tombstone_days: float = TOMBSTONE_DAYS
    ) -> None:
        """``durable=False`` skips the fsync per write: for bulk imports, never for serving.
        ``tombstone_days``: how long a deletion stays in ``changes_since`` answers."""
        self.path = path
        self._retention_s = tombstone_days * 86_400.0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'OFF'}")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.execute("PRAGMA foreign_keys=ON")  # a face's crop goes with its row
            self._migrate()
        except sqlite3.Error as error:
            raise GalleryError(f"{path}: cannot open the gallery database ({error})") from None
        self._lock = threading.Lock()

    def _migrate(self) -> None:
        """Create or upgrade the schema and prune old tombstones, in one transaction (two
        processes may open at once)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise GalleryError(
                    f"{self.path}: gallery schema version {version} is newer than this service "
                    f"understands ({SCHEMA_VERSION})"
                )
            if version < SCHEMA_VERSION:
                columns = {row[1] for row in self._db.execute("PRAGMA table_info(faces)")}
                if columns and "version" not in columns:
                    for statement in _UPGRADE_FACES.split(";\n"):
                        self._db.execute(statement)
                if version == 3:
                    for statement in _UPGRADE_REMOVALS:
                        self._db.execute(statement)
                    self._db.execute("UPDATE face_removals SET removed_at = ?", (time.time(),))
                for statement in _TABLES.split(";\n"):
                    self._db.execute(statement)
                self._db.execute("CREATE INDEX IF NOT EXISTS faces_version ON faces (version)")
                self._db.execute(
                    "INSERT OR IGNORE INTO gallery_meta (one, version, reset_version) "
                    "VALUES (1, (SELECT count(*) FROM faces), 0)"
                )
                self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            self._prune()
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    @contextmanager
    def _write(self, *, reset: bool = False) -> Iterator[int]:
        """One write transaction; yields the gallery version it writes (the old one + 1).

        ``reset``: readers behind this version must load in full (a rename, a re-embedding).
        """
        with self._lock, _storage_errors(self.path):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                (version,) = self._db.execute(
                    "UPDATE gallery_meta SET version = version + 1 RETURNING version"
                ).fetchone()
                if reset:
                    self._db.execute("UPDATE gallery_meta SET reset_version = version")
                yield version
                self._db.execute("COMMIT")  # may fail too when the disk is full
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def add(self, subject: str, model: str, faces: Sequence[NewFace]) -> list[FaceRecord]:
        records = new_records(subject, model, faces)
        with self._write() as version:
            self._db.executemany(
                f"INSERT INTO faces ({_COLUMNS}, version) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [face_row(r, version) for r in records],
            )
            self._db.executemany(
                "INSERT INTO face_crops (face_id, png) VALUES (?,?)",
                [
                    (r.face_id, f.crop)
                    for r, f in zip(records, faces, strict=True)
                    if f.crop is not None
                ],
            )
        return records

    def all(self) -> list[FaceRecord]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM faces ORDER BY rowid").fetchall()
        return [
            FaceRecord(
                face_id=face_id,
                subject=subject,
                model=model,
                embedding=np.frombuffer(blob, dtype="<f4", count=dim).astype(np.float32),
                box=(x1, y1, x2, y2),
                created_at=created_at,
            )
            for face_id, subject, model, dim, blob, x1, y1, x2, y2, created_at in rows
        ]

    def delete_subject(self, subject: str) -> list[str]:
        with self._write() as version:
            rows = self._db.execute(
                "DELETE FROM faces WHERE subject = ? RETURNING face_id", (subject,)
            ).fetchall()
            self._tombstones([face_id for (face_id,) in rows], version)
            self._prune()
        return [face_id for (face_id,) in rows]

    def delete_face(self, subject: str, face_id: str) -> bool:
        with self._write() as version:
            rows = self._db.execute(
                "DELETE FROM faces WHERE subject = ? AND face_id = ? RETURNING face_id",
                (subject, face_id),
            ).fetchall()
            self._tombstones([face_id for (face_id,) in rows], version)
            self._prune()
        return bool(rows)

    def _tombstones(self, face_ids: list[str], version: int) -> None:
        now = time.time()
        self._db.executemany(
            "INSERT INTO face_removals (face_id, version, removed_at) VALUES (?,?,?)",
            [(face_id, version, now) for face_id in face_ids],
        )

    def _prune(self) -> None:
        """Forget the tombstones older than the retention, with every older version's, and
        record the newest version forgotten: a reader behind it must load in full."""
        # By the time index: the planner's pick, the version index, walks every tombstone
        # (22 ms a deletion at 100k young ones, measured, instead of 0.2).
        (through,) = self._db.execute(
            "SELECT max(version) FROM face_removals INDEXED BY face_removals_removed_at "
            "WHERE removed_at < ?",
            (time.time() - self._retention_s,),
        ).fetchone()
        if through is not None:
            self._db.execute("DELETE FROM face_removals WHERE version <= ?", (through,))
            self._db.execute("UPDATE gallery_meta SET pruned_version = ?", (through,))

    def crop(self, face_id: str) -> bytes | None:
        with self._lock:
            row = self._db.execute(
                "SELECT png FROM face_crops WHERE face_id = ?", (face_id,)
            ).fetchone()
        return bytes(row[0]) if row else None

    def crops(self) -> dict[str, bytes]:
        with self._lock:
            rows = self._db.execute("SELECT face_id, png FROM face_crops").fetchall()
        return {face_id: bytes(png) for face_id, png in rows}

    def rename_subject(self, subject: str, new: str) -> int:
        with self._write(reset=True):
            cursor = self._db.execute(
                "UPDATE faces SET subject = ? WHERE subject = ?", (new, subject)
            )
        return cursor.rowcount

    def replace_embeddings(self, model: str, embeddings: dict[str, NDArray[np.float32]]) -> None:
        with self._write(reset=True):
            self._db.executemany(
                "UPDATE faces SET model = ?, dim = ?, embedding = ? WHERE face_id = ?",
                [
                    (model, int(v.size), np.asarray(v, "<f4").tobytes(), face_id)
                    for face_id, v in embeddings.items()
                ],
            )

    def version(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT version FROM gallery_meta").fetchone()[0])

    def load(self) -> GalleryChanges:
        with self._lock, self._reading():
            (version,) = self._db.execute("SELECT version FROM gallery_meta").fetchone()
            added = self._faces_after(0)
            self._db.execute("PRAGMA shrink_memory")  # the pages a full load read: not again
        return GalleryChanges(version=int(version), added=added, removed=[])

    def changes_since(self, version: int) -> GalleryChanges | None:
        with self._lock, self._reading():
            now, reset = self._db.execute(
                "SELECT version, max(reset_version, pruned_version) FROM gallery_meta"
            ).fetchone()
            if version < reset or version > now:  # behind a reset or pruning, or another file
                return None
            removed = self._db.execute(
                "SELECT face_id FROM face_removals WHERE version > ? ORDER BY version", (version,)
            ).fetchall()
            added = self._faces_after(version)
        return GalleryChanges(
            version=int(now), added=added, removed=[face_id for (face_id,) in removed]
        )

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """One read transaction: every query inside sees the same committed version."""
        self._db.execute("BEGIN")
        try:
            yield
        finally:
            self._db.execute("COMMIT")

    def _faces_after(self, version: int) -> list[FaceColumns]:
        """Faces written after ``version``, oldest first, one :class:`FaceColumns` per model.

        A full load scans the table in rowid order; catching up reads the few new rows through
        the version index (the planner, left alone, scans the whole table for either).
        """
        rows = "faces INDEXED BY faces_version" if version else "faces NOT INDEXED"
        groups = self._db.execute(
            f"SELECT model, dim, count(*) FROM {rows} WHERE version > ? "
            "GROUP BY model, dim ORDER BY min(rowid)",
            (version,),
        ).fetchall()
        models = [model for model, _, _ in groups]
        if len(set(models)) != len(models):
            raise GalleryError("a model's faces have embeddings of different sizes: re-embed them")
        return [self._model_faces(rows, m, dim, count, version) for m, dim, count in groups]

    def _model_faces(
        self, rows: str, model: str, dim: int, count: int, version: int
    ) -> FaceColumns:
        """One model's faces, read in blocks into arrays allocated once (inside the read
        transaction, so ``count`` holds)."""
        columns = FaceColumns(
            model=model,
            face_ids=[],
            subjects=[],
            embeddings=np.empty((count, dim), dtype=np.float32),
            boxes=np.empty((count, 4), dtype=np.float32),
            created_at=np.empty(count, dtype=np.float64),
        )
        cursor = self._db.execute(
            f"SELECT face_id, subject, embedding, x1, y1, x2, y2, created_at FROM {rows} "
            "WHERE model = ? AND version > ? ORDER BY rowid",
            (model, version),
        )
        start = 0
        while block := cursor.fetchmany(_CHUNK_ROWS):
            end = start + len(block)
            face_ids, subjects, blobs, x1, y1, x2, y2, created_at = zip(*block, strict=True)
            columns.face_ids.extend(face_ids)
            columns.subjects.extend(subjects)
            columns.embeddings[start:end] = np.frombuffer(b"".join(blobs), "<f4").reshape(-1, dim)
            columns.boxes[start:end] = np.array([x1, y1, x2, y2], dtype=np.float32).T
            columns.created_at[start:end] = created_at
            start = end
        return columns

    def close(self) -> None:
        with self._lock:
            self._db.close()


# SQLITE_FULL is ENOSPC; a write refused with any other errno (EFBIG past a file-size limit,
# EDQUOT past a quota) comes back as an SQLITE_IOERR_* code: the volume took nothing either way.
_NO_ROOM = frozenset({sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR})


@contextmanager
def _storage_errors(path: Path) -> Iterator[None]:
    """A write the volume refused becomes ``GalleryFullError`` (507), not an anonymous 500."""
    try:
        yield
    except sqlite3.OperationalError as error:
        code = getattr(error, "sqlite_errorcode", None)
        if code is None or code & 0xFF not in _NO_ROOM:
            raise
        raise GalleryFullError(
            f"the gallery's volume refused the write ({error}); nothing was stored or "
            f"deleted: free space on the volume of {path.name} and retry"
        ) from None
