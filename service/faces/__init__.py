"""The face gallery: stored embeddings per subject (SQLite by default) and vectorised search."""

from service.faces.gallery import Gallery, GalleryMatch, SubjectScore
from service.faces.sqlite_store import SqliteFaceStore
from service.faces.store import (
    FaceColumns,
    FaceRecord,
    FaceStore,
    GalleryChanges,
    GalleryError,
    GalleryFullError,
    GalleryUnavailableError,
    InvalidSubjectError,
    NewFace,
    UnknownFaceError,
    UnknownSubjectError,
)
from service.faces.subjects import MAX_SUBJECT_LENGTH, validate_subject

__all__ = [
    "MAX_SUBJECT_LENGTH",
    "FaceColumns",
    "FaceRecord",
    "FaceStore",
    "Gallery",
    "GalleryChanges",
    "GalleryError",
    "GalleryFullError",
    "GalleryMatch",
    "GalleryUnavailableError",
    "InvalidSubjectError",
    "NewFace",
    "SqliteFaceStore",
    "SubjectScore",
    "UnknownFaceError",
    "UnknownSubjectError",
    "validate_subject",
]
