"""The gallery: a store for durability plus, per embedder model, an in-memory index to search.

Every write goes to the store first (one transaction) and only then to the index, under one
lock, so after any write the matrix holds exactly what the database holds; a restart rebuilds
the same matrix from the database. Searches read a published snapshot and take no lock.
Embeddings of different models are never compared: each model has its own index.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from service.faces.index import EmbeddingIndex
from service.faces.store import (
    FaceRecord,
    FaceStore,
    NewFace,
    UnknownFaceError,
    UnknownSubjectError,
)
from service.faces.subjects import normalised, shown


@dataclass(frozen=True)
class SubjectScore:
    """A subject and the highest cosine similarity between the query and its faces."""

    subject: str
    similarity: float


@dataclass(frozen=True)
class GalleryMatch:
    """For one query face: the subject it is (or None below the threshold) and candidates.

    ``similarity`` is the best candidate's, None when the gallery holds no one.
    """

    subject: str | None
    similarity: float | None
    candidates: list[SubjectScore]


class Gallery:
    """Enrol, list, delete and search faces; thread-safe."""

    def __init__(self, store: FaceStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._faces: dict[str, list[FaceRecord]] = {}  # subject -> faces, oldest first
        self._indexes: dict[str, EmbeddingIndex] = {}
        self._remember(store.all())

    def enrol(self, subject: str, model: str, faces: Sequence[NewFace]) -> list[FaceRecord]:
        """Store each face as its own record under ``subject`` (added to any it already has)."""
        with self._lock:
            records = self.store.add(subject, model, faces)
            self._remember(records)
        return records

    def subjects(self) -> dict[str, list[FaceRecord]]:
        """Every subject with its faces, subjects in order of first enrolment."""
        with self._lock:
            return {subject: list(faces) for subject, faces in self._faces.items()}

    def delete_subject(self, subject: str) -> int:
        """Remove every face of ``subject``; how many there were."""
        subject = normalised(subject)
        with self._lock:
            if subject not in self._faces:
                raise UnknownSubjectError(f"no subject {shown(subject)} is enrolled")
            removed = set(self.store.delete_subject(subject))
            self._forget(subject, removed)
        return len(removed)

    def delete_face(self, subject: str, face_id: str) -> None:
        subject = normalised(subject)
        with self._lock:
            if subject not in self._faces:
                raise UnknownSubjectError(f"no subject {shown(subject)} is enrolled")
            if not self.store.delete_face(subject, face_id):
                raise UnknownFaceError(f"subject {shown(subject)} has no face {shown(face_id)}")
            self._forget(subject, {face_id})

    def face(self, face_id: str) -> FaceRecord | None:
        """The stored face with this id, whoever's it is."""
        with self._lock:
            for faces in self._faces.values():
                for record in faces:
                    if record.face_id == face_id:
                        return record
        return None

    def crop(self, face_id: str) -> bytes | None:
        """The aligned crop (PNG) kept for the face, if crops were kept when it was enrolled."""
        return self.store.crop(face_id)

    def rename_subject(self, subject: str, new: str) -> int:
        """Give every face of ``subject`` to ``new`` (merged into it if it exists)."""
        subject, new = normalised(subject), normalised(new)
        with self._lock:
            if subject not in self._faces:
                raise UnknownSubjectError(f"no subject {shown(subject)} is enrolled")
            moved = self.store.rename_subject(subject, new)
            self._reload()
        return moved

    def reembed(self, model: str, embeddings: dict[str, NDArray[np.float32]]) -> None:
        """Replace the faces' embeddings (by face id) with ``model``'s, in one transaction."""
        with self._lock:
            self.store.replace_embeddings(model, embeddings)
            self._reload()

    def _reload(self) -> None:
        """Rebuild the subjects and indexes from the store (after a rename or re-embedding)."""
        self._faces = {}
        self._indexes = {}
        self._remember(self.store.all())

    def search(
        self, model: str, queries: NDArray[np.float32], *, threshold: float, top_k: int
    ) -> list[GalleryMatch]:
        """For each row of ``queries`` (unit vectors), the best ``top_k`` subjects.

        A face is given its best subject only when that similarity reaches ``threshold``;
        otherwise ``subject`` is None — the honest "unknown", never merely the nearest one.
        Two faces of one image get the same subject only if it is each one's best match and
        both reach the threshold (two photos of one person in a picture, say).
        """
        index = self._indexes.get(model)
        if index is None or not len(queries):
            return [GalleryMatch(None, None, []) for _ in range(len(queries))]
        snapshot = index.snapshot
        best = snapshot.best_per_subject(np.asarray(queries, dtype=np.float32))  # (S, Q)
        k = min(top_k, len(snapshot.subjects))
        matches = []
        for column in best.T:  # one query at a time; Q is the faces in one image
            if not k:
                matches.append(GalleryMatch(None, None, []))
                continue
            top = np.argpartition(-column, k - 1)[:k]
            top = top[np.lexsort((top, -column[top]))]  # best first, ties by enrolment order
            candidates = [SubjectScore(snapshot.subjects[i], float(column[i])) for i in top]
            first = candidates[0]
            subject = first.subject if first.similarity >= threshold else None
            matches.append(GalleryMatch(subject, first.similarity, candidates))
        return matches

    def _remember(self, records: Sequence[FaceRecord]) -> None:
        by_model: dict[str, list[FaceRecord]] = {}
        for record in records:
            self._faces.setdefault(record.subject, []).append(record)
            by_model.setdefault(record.model, []).append(record)
        for model, group in by_model.items():
            index = self._indexes.setdefault(model, EmbeddingIndex(int(group[0].embedding.size)))
            index.append(
                [r.subject for r in group],
                [r.face_id for r in group],
                np.stack([r.embedding for r in group]),
            )

    def _forget(self, subject: str, face_ids: set[str]) -> None:
        kept = [r for r in self._faces.get(subject, []) if r.face_id not in face_ids]
        if kept:
            self._faces[subject] = kept
        else:
            self._faces.pop(subject, None)
        for index in self._indexes.values():
            index.remove(face_ids)

    def close(self) -> None:
        self.store.close()
