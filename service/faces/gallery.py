"""The gallery: a store for durability plus, per embedder model, an in-memory index to search.

The index changes only through :meth:`Gallery.sync`: it asks the store what changed since the
version it holds (or loads everything after a rename, a re-embedding, or on first use) and
applies it. A write goes to the store (one transaction) and then syncs before returning, so
the replica that wrote reads its write; other replicas sync when told (or on a poll). Searches
read a published snapshot and take no lock. Embeddings of different models are never
compared: each model has its own index, and subjects are codes shared by all of them.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from service.faces.index import FACE_ID, EmbeddingIndex, Rows
from service.faces.store import (
    FaceColumns,
    FaceRecord,
    FaceStore,
    GalleryChanges,
    GalleryError,
    GalleryUnavailableError,
    NewFace,
    UnknownFaceError,
    UnknownSubjectError,
)
from service.faces.subject_table import PackedNames, SubjectTable
from service.faces.subjects import normalised, shown

log = logging.getLogger(__name__)
_HEX = frozenset("0123456789abcdef")


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
    """Enrol, list, delete and search faces; thread-safe. Empty until the first :meth:`sync`."""

    def __init__(self, store: FaceStore) -> None:
        self.store = store
        self.version = 0
        self.ready = False  # True once the first full load has been applied
        self._lock = threading.Lock()  # serialises syncs and the writes that end in one
        self._indexes: dict[str, EmbeddingIndex] = {}
        self._subjects = SubjectTable()

    # -- keeping up with the store -------------------------------------------------------

    def sync(self) -> int:
        """Bring the index to the store's current version; that version."""
        with self._lock:
            return self._sync()

    def load_in_background(self) -> threading.Thread:
        """Start the first load in a daemon thread (failures are logged; sync again later)."""

        def load() -> None:
            try:
                self.sync()
            except Exception:  # a thread of its own: nobody else would see the error
                log.exception("the face gallery could not be loaded; it retries on next sync")

        thread = threading.Thread(target=load, name="gallery-load", daemon=True)
        thread.start()
        return thread

    def _sync(self) -> int:
        changes = self.store.changes_since(self.version) if self.ready else None
        if changes is None:
            self._replace(*_built(self.store.load()))
        elif changes.version != self.version:
            self._apply(changes)
        return self.version

    def _replace(
        self, indexes: dict[str, EmbeddingIndex], names: PackedNames, version: int
    ) -> None:
        """Swap in a full load; searches keep the old snapshots until the new ones are in.

        The names are unpacked only now, after the load's per-row objects are freed (see
        :class:`PackedNames`)."""
        subjects = SubjectTable.unpacked(names)
        for index in indexes.values():
            index.publish(subjects.names)
        self._indexes, self._subjects = indexes, subjects
        self.version, self.ready = version, True
        _return_freed_memory()

    def _apply(self, changes: GalleryChanges) -> None:
        """Removals first (they may name faces never seen here), then additions."""
        removed = _face_ids([f for f in changes.removed if _is_face_id(f)])
        touched: set[str] = set()
        if len(removed):
            for model, index in self._indexes.items():
                rows = np.isin(index.face_ids[: index.count], removed)
                if rows.any():
                    self._subjects.remove_faces(index.remove(rows))
                    touched.add(model)
        _register_in_enrolment_order(self._subjects, changes.added)
        for columns in changes.added:
            dim = columns.embeddings.shape[1]
            index = self._indexes.setdefault(columns.model, EmbeddingIndex(dim))
            _append(index, self._subjects, columns)
            touched.add(columns.model)
        compacted = self._subjects.compacted()
        if compacted is not None:
            self._subjects, remap = compacted
            for index in self._indexes.values():
                index.recode(remap)
            touched = set(self._indexes)
        for model in touched:
            self._indexes[model].publish(self._subjects.names)
        for model in [m for m, index in self._indexes.items() if not len(index)]:
            del self._indexes[model]
        self.version = changes.version

    def _check_ready(self) -> None:
        if not self.ready:
            raise GalleryUnavailableError("the face gallery is still loading")

    @contextlib.contextmanager
    def _loaded(self) -> Iterator[None]:
        """The lock, once the gallery is loaded; while the first load holds it, an
        immediate GalleryUnavailableError rather than a wait (ready never turns False)."""
        self._check_ready()
        with self._lock:
            yield

    # -- writes: the store, then a sync ----------------------------------------------------

    def enrol(self, subject: str, model: str, faces: Sequence[NewFace]) -> list[FaceRecord]:
        """Store each face as its own record under ``subject`` (added to any it already has)."""
        with self._loaded():
            records = self.store.add(subject, model, faces)
            self._sync_after_write()
        return records

    def delete_subject(self, subject: str) -> int:
        """Remove every face of ``subject``; how many there were."""
        subject = normalised(subject)
        with self._loaded():
            self._known(subject)
            removed = self.store.delete_subject(subject)
            self._sync_after_write()
        return len(removed)

    def delete_face(self, subject: str, face_id: str) -> None:
        subject = normalised(subject)
        with self._loaded():
            self._known(subject)
            if not self.store.delete_face(subject, face_id):
                raise UnknownFaceError(f"subject {shown(subject)} has no face {shown(face_id)}")
            self._sync_after_write()

    def rename_subject(self, subject: str, new: str) -> int:
        """Give every face of ``subject`` to ``new`` (merged into it if it exists)."""
        subject, new = normalised(subject), normalised(new)
        with self._loaded():
            self._known(subject)
            moved = self.store.rename_subject(subject, new)
            self._sync_after_write()
        return moved

    def reembed(self, model: str, embeddings: dict[str, NDArray[np.float32]]) -> None:
        """Replace the faces' embeddings (by face id) with ``model``'s, in one transaction."""
        with self._loaded():
            self.store.replace_embeddings(model, embeddings)
            self._sync_after_write()

    def _sync_after_write(self) -> None:
        """Catch up with a write the store has committed. If the database goes away between
        the commit and this read, the write still happened: answering 503 would make a client
        retry it (a second enrolment of the same faces), so the write answers as done and the
        index catches up at the next sync (the listener's poll, or the next write or check)."""
        try:
            self._sync()
        except GalleryUnavailableError as error:
            log.warning("a committed gallery write is not in memory yet: %s", error)

    def _known(self, subject: str) -> None:
        """Refuse an unknown subject, after catching up: another replica may have enrolled it."""
        if subject not in self._subjects:
            self._sync()
        if subject not in self._subjects:
            raise UnknownSubjectError(f"no subject {shown(subject)} is enrolled")

    # -- reads -----------------------------------------------------------------------------

    def subjects(self) -> Mapping[str, list[FaceRecord]]:
        """Every subject with its faces, subjects in order of first enrolment, faces oldest
        first. The faces of a subject are built when asked for: listing names is cheap."""
        with self._loaded():
            rows = {model: index.rows() for model, index in self._indexes.items()}
            return _Listing(rows, self._subjects.names)

    def face(self, face_id: str) -> FaceRecord | None:
        """The stored face with this id, whoever's it is."""
        with self._loaded():
            if not _is_face_id(face_id):
                return None  # none of ours: every stored id is 32 lowercase hex digits
            key = _face_ids([face_id])
            for model, index in self._indexes.items():
                rows = index.rows()
                found = np.flatnonzero(rows.face_ids == key)
                if len(found):
                    return _record(model, rows, self._subjects.names, int(found[0]))
        return None

    def crop(self, face_id: str) -> bytes | None:
        """The aligned crop (PNG) kept for the face, if crops were kept when it was enrolled."""
        return self.store.crop(face_id)

    def search(
        self, model: str, queries: NDArray[np.float32], *, threshold: float, top_k: int
    ) -> list[GalleryMatch]:
        """For each row of ``queries`` (unit vectors), the best ``top_k`` subjects.

        A face is given its best subject only when that similarity reaches ``threshold``;
        otherwise ``subject`` is None — the honest "unknown", never merely the nearest one.
        Two faces of one image get the same subject only if it is each one's best match and
        both reach the threshold (two photos of one person in a picture, say).
        """
        self._check_ready()
        index = self._indexes.get(model)
        if index is None or not len(queries):
            return [GalleryMatch(None, None, []) for _ in range(len(queries))]
        snapshot = index.snapshot
        matches = []
        for sims in snapshot.similarities(np.asarray(queries, dtype=np.float32)):
            candidates = [
                SubjectScore(snapshot.names[code], score)
                for code, score in snapshot.best_subjects(sims, top_k)
            ]
            if not candidates:
                matches.append(GalleryMatch(None, None, []))
                continue
            first = candidates[0]
            subject = first.subject if first.similarity >= threshold else None
            matches.append(GalleryMatch(subject, first.similarity, candidates))
        return matches

    def close(self) -> None:
        self.store.close()


class _Listing(Mapping[str, list[FaceRecord]]):
    """Subjects -> faces over stable views of the indexes; FaceRecords are built per subject
    only when that subject is read."""

    def __init__(self, rows: dict[str, Rows], names: list[str]) -> None:
        self._rows = list(rows.items())
        self._names = names
        codes = np.concatenate([r.codes for r in rows.values()] or [np.empty(0, np.int32)])
        created = np.concatenate([r.created_at for r in rows.values()] or [np.empty(0)])
        sizes = [len(r.codes) for r in rows.values()]
        self._which = np.repeat(np.arange(len(sizes)), sizes)  # position -> model
        self._offsets = np.cumsum([0, *sizes])
        # Grouped by subject code (first enrolled first), oldest first within a subject.
        self._order = np.lexsort((created, codes))
        unique, starts = np.unique(codes[self._order], return_index=True)
        ends = np.append(starts[1:], len(codes))[: len(starts)]
        self._spans = {
            names[code]: (int(s), int(e)) for code, s, e in zip(unique, starts, ends, strict=True)
        }

    def __getitem__(self, subject: str) -> list[FaceRecord]:
        start, end = self._spans[subject]
        records = []
        for position in self._order[start:end]:
            which = int(self._which[position])
            model, rows = self._rows[which]
            row = int(position - self._offsets[which])
            records.append(_record(model, rows, self._names, row))
        return records

    def __iter__(self) -> Iterator[str]:
        return iter(self._spans)

    def __len__(self) -> int:
        return len(self._spans)


def _record(model: str, rows: Rows, names: list[str], row: int) -> FaceRecord:
    x1, y1, x2, y2 = rows.boxes[row].tolist()
    return FaceRecord(
        face_id=rows.face_ids[row].tobytes().hex(),
        subject=names[rows.codes[row]],
        model=model,
        embedding=rows.vectors[row],
        box=(x1, y1, x2, y2),
        created_at=float(rows.created_at[row]),
    )


def _is_face_id(face_id: str) -> bool:
    return len(face_id) == 32 and _HEX.issuperset(face_id)


def _face_ids(face_ids: Sequence[str]) -> NDArray[np.void]:
    """Hex ids as 16-byte keys (a store's ids are uuid4 hex: 32 lowercase hex digits)."""
    try:
        keys = np.frombuffer(bytearray.fromhex("".join(face_ids)), dtype=FACE_ID)
    except ValueError:
        keys = np.empty(0, FACE_ID)
    if len(keys) != len(face_ids):
        raise GalleryError("the store holds face ids that are not 32 hex digits")
    return keys


def _built(changes: GalleryChanges) -> tuple[dict[str, EmbeddingIndex], PackedNames, int]:
    """The indexes of a full load (unpublished), their subjects packed, and its version."""
    indexes: dict[str, EmbeddingIndex] = {}
    subjects = SubjectTable()
    _register_in_enrolment_order(subjects, changes.added)
    for columns in changes.added:
        indexes[columns.model] = EmbeddingIndex.of(
            _face_ids(columns.face_ids),
            subjects.add_faces(columns.subjects),
            columns.embeddings,
            columns.boxes,
            columns.created_at,
        )
    return indexes, subjects.packed(), changes.version


def _return_freed_memory() -> None:
    """Give freed heap pages back to the OS: a load builds Python objects per row on the way
    to the arrays, and glibc keeps the pages they leave unless asked (about 15 bytes a face,
    measured at 1M faces). Where there is no glibc this does nothing."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _register_in_enrolment_order(subjects: SubjectTable, added: list[FaceColumns]) -> None:
    """New subjects get codes in order of first enrolment, across models by ``created_at``."""
    if len(added) > 1:
        names = [name for columns in added for name in columns.subjects]
        order = np.argsort(np.concatenate([c.created_at for c in added]), kind="stable")
        subjects.register(names[i] for i in order)


def _append(index: EmbeddingIndex, subjects: SubjectTable, columns: FaceColumns) -> None:
    index.append(
        _face_ids(columns.face_ids),
        subjects.add_faces(columns.subjects),
        np.asarray(columns.embeddings, dtype=np.float32),
        columns.boxes,
        columns.created_at,
    )
