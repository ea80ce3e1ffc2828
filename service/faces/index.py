"""The embeddings of one embedder model as a matrix, searched with one matrix product.

Readers take an immutable :class:`Snapshot` and search it without a lock. Enrolment appends
into spare rows of a buffer that grows by doubling, beyond the rows any published snapshot
can see, so an append costs what it adds, not what the gallery holds; a deletion compacts into
fresh arrays. Subjects are small integer codes, so "best face per subject" is one
``np.maximum.at`` over the similarities — no Python loop over faces or subjects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

_INITIAL_CAPACITY = 64
_Array = TypeVar("_Array", bound=np.ndarray[Any, Any])


@dataclass(frozen=True)
class Snapshot:
    """What a search sees: ``vectors[i]`` is a face of subject ``subjects[codes[i]]``."""

    vectors: NDArray[np.float32]  # (N, d), unit rows
    codes: NDArray[np.int64]  # (N,)
    subjects: tuple[str, ...]  # by code; every code has rows (removals compact them)

    def best_per_subject(self, queries: NDArray[np.float32]) -> NDArray[np.float32]:
        """(S, Q): for each subject and query, the highest cosine over the subject's faces."""
        best = np.full((len(self.subjects), len(queries)), -np.inf, dtype=np.float32)
        if len(self.vectors):
            similarities = self.vectors @ queries.T  # (N, Q)
            np.maximum.at(best, self.codes, similarities)
        return best


class EmbeddingIndex:
    """The mutable side: callers serialise writes; :attr:`snapshot` is safe to read anytime."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._vectors = np.empty((_INITIAL_CAPACITY, dim), dtype=np.float32)
        self._codes = np.empty(_INITIAL_CAPACITY, dtype=np.int64)
        self._face_ids: list[str] = []
        self._subjects: list[str] = []
        self._code_of: dict[str, int] = {}
        self.snapshot = Snapshot(self._vectors[:0], self._codes[:0], ())

    def __len__(self) -> int:
        return len(self._face_ids)

    def append(
        self, subjects: Sequence[str], face_ids: Sequence[str], vectors: NDArray[np.float32]
    ) -> None:
        """Add ``vectors`` (K, dim), row i a face of ``subjects[i]``; publish one snapshot."""
        if vectors.ndim != 2 or vectors.shape[1] != self.dim or len(vectors) != len(subjects):
            raise ValueError(
                f"expected ({len(subjects)}, {self.dim}) embeddings, got {vectors.shape}"
            )
        count, added = len(self._face_ids), len(vectors)
        if count + added > len(self._vectors):
            capacity = max(2 * len(self._vectors), count + added)
            self._vectors = _grown(self._vectors, count, capacity)
            self._codes = _grown(self._codes, count, capacity)
        self._vectors[count : count + added] = vectors
        self._codes[count : count + added] = [self._code(subject) for subject in subjects]
        self._face_ids.extend(face_ids)
        self._publish()

    def _code(self, subject: str) -> int:
        code = self._code_of.get(subject)
        if code is None:
            code = self._code_of[subject] = len(self._subjects)
            self._subjects.append(subject)
        return code

    def remove(self, face_ids: set[str]) -> None:
        """Drop these faces, compacting rows and subject codes into fresh arrays."""
        keep = [i for i, face_id in enumerate(self._face_ids) if face_id not in face_ids]
        if len(keep) == len(self._face_ids):
            return
        rows = np.asarray(keep, dtype=np.int64)
        old_codes = self._codes[rows]
        used = np.unique(old_codes)
        self._subjects = [self._subjects[int(code)] for code in used]
        self._code_of = {subject: code for code, subject in enumerate(self._subjects)}
        capacity = max(_INITIAL_CAPACITY, 2 * len(rows))
        self._vectors = _grown(self._vectors[rows], len(rows), capacity)
        self._codes = _grown(np.searchsorted(used, old_codes), len(rows), capacity)
        self._face_ids = [self._face_ids[i] for i in keep]
        self._publish()

    def _publish(self) -> None:
        count = len(self._face_ids)
        self.snapshot = Snapshot(self._vectors[:count], self._codes[:count], tuple(self._subjects))


def _grown(array: _Array, count: int, capacity: int) -> _Array:
    """A new buffer of ``capacity`` rows holding ``array[:count]``; the old one is untouched,
    so snapshots that still point into it stay valid."""
    grown = np.empty((capacity, *array.shape[1:]), dtype=array.dtype)
    grown[:count] = array[:count]
    return grown  # type: ignore[return-value]
