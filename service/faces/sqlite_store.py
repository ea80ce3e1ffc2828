"""The default gallery store: one SQLite file in WAL mode, one transaction per write.

``synchronous=FULL`` makes a write that was answered 201 survive a crash or power cut, and a
write cut off half-way (``kill -9`` mid-enrolment) is rolled back by SQLite on the next open:
the file only ever holds whole enrolments. Rows come back in ``rowid`` order, which is the
order of insertion among the rows that exist. One connection, serialised by a lock, is plenty:
enrolments are rare and the searches run on the in-memory matrix, not on the database.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from service.faces.store import FaceRecord, GalleryError, GalleryFullError, NewFace

SCHEMA_VERSION = 2  # 2: face_crops (version 1 files are upgraded in place: one new table)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS faces (
    face_id    TEXT PRIMARY KEY,
    subject    TEXT NOT NULL,
    model      TEXT NOT NULL,
    dim        INTEGER NOT NULL,
    embedding  BLOB NOT NULL,
    x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS faces_subject ON faces (subject);
CREATE TABLE IF NOT EXISTS face_crops (
    face_id TEXT PRIMARY KEY REFERENCES faces (face_id) ON DELETE CASCADE,
    png     BLOB NOT NULL
);
"""
_COLUMNS = "face_id, subject, model, dim, embedding, x1, y1, x2, y2, created_at"


class SqliteFaceStore:
    """A :class:`~service.faces.store.FaceStore` in the SQLite file at ``path``."""

    def __init__(self, path: Path, *, durable: bool = True) -> None:
        """``durable=False`` skips the fsync per write: for bulk imports, never for serving."""
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'OFF'}")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.execute("PRAGMA foreign_keys=ON")  # a face's crop goes with its row
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise GalleryError(
                    f"{path}: gallery schema version {version} is newer than this service "
                    f"understands ({SCHEMA_VERSION})"
                )
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.Error as error:
            raise GalleryError(f"{path}: cannot open the gallery database ({error})") from None
        self._lock = threading.Lock()

    def add(self, subject: str, model: str, faces: Sequence[NewFace]) -> list[FaceRecord]:
        now = time.time()
        records = [
            FaceRecord(
                face_id=uuid.uuid4().hex,
                subject=subject,
                model=model,
                embedding=np.asarray(face.embedding, dtype=np.float32).reshape(-1),
                box=face.box,
                created_at=now,
            )
            for face in faces
        ]
        with self._lock, _storage_errors(self.path):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    f"INSERT INTO faces ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    [
                        (
                            r.face_id,
                            r.subject,
                            r.model,
                            int(r.embedding.size),
                            r.embedding.astype("<f4").tobytes(),
                            *r.box,
                            r.created_at,
                        )
                        for r in records
                    ],
                )
                self._db.executemany(
                    "INSERT INTO face_crops (face_id, png) VALUES (?,?)",
                    [
                        (r.face_id, f.crop)
                        for r, f in zip(records, faces, strict=True)
                        if f.crop is not None
                    ],
                )
                self._db.execute("COMMIT")  # may fail too when the disk is full
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
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
        with self._lock, _storage_errors(self.path):
            rows = self._db.execute(
                "DELETE FROM faces WHERE subject = ? RETURNING face_id", (subject,)
            ).fetchall()
        return [face_id for (face_id,) in rows]

    def delete_face(self, subject: str, face_id: str) -> bool:
        with self._lock, _storage_errors(self.path):
            cursor = self._db.execute(
                "DELETE FROM faces WHERE subject = ? AND face_id = ?", (subject, face_id)
            )
        return cursor.rowcount > 0

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
        with self._lock, _storage_errors(self.path):
            cursor = self._db.execute(
                "UPDATE faces SET subject = ? WHERE subject = ?", (new, subject)
            )
        return cursor.rowcount

    def replace_embeddings(self, model: str, embeddings: dict[str, np.ndarray]) -> None:
        with self._lock, _storage_errors(self.path):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "UPDATE faces SET model = ?, dim = ?, embedding = ? WHERE face_id = ?",
                    [
                        (model, int(v.size), np.asarray(v, "<f4").tobytes(), face_id)
                        for face_id, v in embeddings.items()
                    ],
                )
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

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
