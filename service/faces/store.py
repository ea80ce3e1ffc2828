"""The storage interface of the gallery, narrow enough for another backend (e.g. PostgreSQL).

A store keeps one row per enrolled face — never an average per subject — and makes every
write one transaction: an enrolment of several images is stored whole or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from service.errors import ServiceError


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

    def close(self) -> None: ...
