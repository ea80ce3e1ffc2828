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


@dataclass(frozen=True)
class NewFace:
    """A face to enrol: its embedding and where it was found in the uploaded image."""

    embedding: NDArray[np.float32]
    box: tuple[float, float, float, float]


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

    def close(self) -> None: ...
