"""The face gallery: stored embeddings per subject (SQLite by default) and vectorised search."""

from service.faces.gallery import Gallery, GalleryMatch, SubjectScore
from service.faces.sqlite_store import SqliteFaceStore
from service.faces.store import (
    FaceRecord,
    FaceStore,
    GalleryError,
    GalleryFullError,
    InvalidSubjectError,
    NewFace,
    UnknownFaceError,
    UnknownSubjectError,
)
from service.faces.subjects import MAX_SUBJECT_LENGTH, validate_subject

__all__ = [
    "MAX_SUBJECT_LENGTH",
    "FaceRecord",
    "FaceStore",
    "Gallery",
    "GalleryError",
    "GalleryFullError",
    "GalleryMatch",
    "InvalidSubjectError",
    "NewFace",
    "SqliteFaceStore",
    "SubjectScore",
    "UnknownFaceError",
    "UnknownSubjectError",
    "validate_subject",
]
