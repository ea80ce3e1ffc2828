"""The storage interface of the gallery, narrow enough for another backend (e.g. PostgreSQL).

A store keeps one row per enrolled face — never an average per subject — and makes every
write one transaction: an enrolment of several images is stored whole or not at all.

Every write transaction (add, delete_subject, delete_face, rename_subject,
replace_embeddings) increments the gallery version by exactly one inside that transaction.
Added faces carry the version they were written at; deletions leave a tombstone
(face_id, version); a rename or re-embedding records a reset version, and ``changes_since(v)``
answers None for ``v`` below it. Tombstones older than a retention are pruned, and the newest
version pruned is recorded: ``changes_since(v)`` answers None below it too, so a reader that
fell that far behind loads in full rather than missing a deletion. Stores raise
GalleryUnavailableError when their database cannot be reached.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from service.errors import ServiceError

# How long a deletion's tombstone is kept by default (VISION_GALLERY_TOMBSTONE_DAYS).
TOMBSTONE_DAYS = 7.0


class GalleryError(ServiceError):
    """A gallery request that cannot be carried out as asked."""


class InvalidSubjectError(GalleryError):
    """The subject name is empty, too long, or has characters that are not allowed (422)."""


class UnknownSubjectError(GalleryError):
    """No face is enrolled under that subject (404)."""


class UnknownFaceError(GalleryError):
    """The subject has no face with that id (404)."""


class GalleryFullError(GalleryError):
    """The gallery's volume is full: the write was rolled back, nothing is half-stored (507)."""


class GalleryUnavailableError(GalleryError):
    """The gallery cannot answer now (database unreachable, or still loading): 503 + Retry-After."""

    def __init__(self, message: str, retry_after_s: int = 5) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class NewFace:
    """A face to enrol: its embedding and where it was found in the uploaded image."""

    embedding: NDArray[np.float32]
    box: tuple[float, float, float, float]
    crop: bytes | None = None  # the aligned 112x112 face as PNG, kept only when asked to


@dataclass(frozen=True)
class FaceRecord:
    """One stored face; ``model`` is the embedder that made ``embedding``."""

    face_id: str
    subject: str
    model: str
    embedding: NDArray[np.float32]
    box: tuple[float, float, float, float]
    created_at: float  # seconds since the epoch


@dataclass(frozen=True)
class FaceColumns:
    """Faces of one embedder model, column by column: bulk loads build no per-face objects."""

    model: str
    face_ids: list[str]  # uuid4 hex, 32 chars
    subjects: list[str]
    embeddings: NDArray[np.float32]  # (N, d)
    boxes: NDArray[np.float32]  # (N, 4) x1 y1 x2 y2
    created_at: NDArray[np.float64]  # (N,) seconds since the epoch


@dataclass(frozen=True)
class GalleryChanges:
    """What a reader at some version needs to reach ``version``."""

    version: int  # the store's gallery version these changes reach
    # faces that exist now and were written after the reader's version, oldest first,
    # one FaceColumns per model
    added: list[FaceColumns]
    # face ids deleted after the reader's version (may include ids the reader never saw)
    removed: list[str]


def new_records(subject: str, model: str, faces: Sequence[NewFace]) -> list[FaceRecord]:
    """The records a store writes for an enrolment: new ids, one timestamp for all."""
    now = time.time()
    return [
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


def face_row(record: FaceRecord, version: int) -> tuple[object, ...]:
    """A face as both stores' ``faces`` rows hold it: face_id, subject, model, dim, embedding
    (little-endian float32 bytes), x1, y1, x2, y2, created_at, version."""
    embedding = record.embedding
    return (
        record.face_id,
        record.subject,
        record.model,
        int(embedding.size),
        embedding.astype("<f4").tobytes(),
        *record.box,
        record.created_at,
        version,
    )


class FaceStore(Protocol):
    """What the gallery needs from a database."""

    def add(self, subject: str, model: str, faces: Sequence[NewFace]) -> list[FaceRecord]:
        """Store every face under ``subject`` in one transaction; new ids, in order."""
        ...

    def all(self) -> list[FaceRecord]:
        """Every stored face, oldest first."""
        ...

    def delete_subject(self, subject: str) -> list[str]:
        """Remove the subject's faces in one transaction; their ids (empty if none)."""
        ...

    def delete_face(self, subject: str, face_id: str) -> bool:
        """Remove one face of ``subject``; False when there is no such face."""
        ...

    def crop(self, face_id: str) -> bytes | None:
        """The stored aligned crop (PNG) of a face; None when none was kept."""
        ...

    def crops(self) -> dict[str, bytes]:
        """Every stored crop by face id (for ``gallery reembed``)."""
        ...

    def rename_subject(self, subject: str, new: str) -> int:
        """Move every face of ``subject`` to ``new`` (merging) in one statement; how many."""
        ...

    def replace_embeddings(self, model: str, embeddings: dict[str, NDArray[np.float32]]) -> None:
        """Give the faces ``embeddings`` (by face id) made by ``model``, in one transaction."""
        ...

    def version(self) -> int:
        """The store's current gallery version (0 for an empty new store)."""
        ...

    def load(self) -> GalleryChanges:
        """Every face (removed empty), at one consistent version."""
        ...

    def changes_since(self, version: int) -> GalleryChanges | None:
        """The changes after ``version``; None when they cannot be given incrementally.

        None means a rename, a re-embedding or pruned history came after ``version``: the
        reader then loads in full.
        """
        ...

    def close(self) -> None: ...
