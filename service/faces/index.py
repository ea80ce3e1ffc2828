"""The faces of one embedder model, column by column, and the search over them.

A million faces must fit one replica, so there is no Python object per face: face ids are
16-byte binary, subjects int32 codes, boxes float32, each in one numpy array beside the
embedding matrix (about 560 bytes a face at 128-d, 512 of them the vector).

Readers take an immutable :class:`Snapshot` and search it without a lock. Appends write into
spare rows beyond what any published snapshot sees (the buffers grow by a quarter, so an
append costs what it adds); a removal or a renumbering builds fresh arrays. Rows below the
published count are therefore never written again, and views of them are stable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

_MIN_SPARE = 64
_BLOCK = 256  # rows per block when bounding the top similarities (see Snapshot._cutoff)
_MIN_CANDIDATES = 64
_Array = TypeVar("_Array", bound=np.ndarray[Any, Any])
FACE_ID = np.dtype("V16")  # a uuid4 hex id as its 16 bytes


@dataclass(frozen=True)
class Snapshot:
    """What a search sees: ``vectors[i]`` is a face of subject ``names[codes[i]]``."""

    vectors: NDArray[np.float32]  # (N, d), unit rows
    codes: NDArray[np.int32]  # (N,)
    names: list[str]  # by code, append-only (see SubjectTable)

    def similarities(self, queries: NDArray[np.float32]) -> NDArray[np.float32]:
        """(Q, N) cosines: one pass over the matrix for all the faces of an image."""
        if len(queries) == 1:  # matrix-vector: the common case, one face in the picture
            one: NDArray[np.float32] = self.vectors @ queries[0]
            return one[None]
        sims: NDArray[np.float32] = queries @ self.vectors.T
        return sims

    def best_subjects(self, sims: NDArray[np.float32], k: int) -> list[tuple[int, float]]:
        """The ``k`` subjects with the highest best cosine, as (code, cosine), best first;
        ties go to the lower code (the earlier enrolled).

        Only faces at or above a cutoff that at least ``m`` faces reach are reduced per
        subject. Every subject outside them has all its faces below the cutoff, so below each
        subject inside: when the inside holds ``k`` subjects the answer is exact. Otherwise
        ``m`` grows (one subject with many close faces) up to every face.
        """
        n = len(sims)
        m = max(_MIN_CANDIDATES, 8 * k)
        while True:
            rows = np.flatnonzero(sims >= _cutoff(sims, m)) if m < n else np.arange(n)
            scores, codes = sims[rows], self.codes[rows]
            order = np.argsort(-scores)  # best first, so each code's first is its best
            unique, first = np.unique(codes[order], return_index=True)
            if len(unique) >= k or len(rows) == n:
                break
            m *= 4
        best = scores[order][first]
        top = np.lexsort((unique, -best))[:k]
        return [(int(unique[i]), float(best[i])) for i in top]


def _cutoff(sims: NDArray[np.float32], m: int) -> np.float32:
    """A value at least ``m`` similarities reach, in two cheap passes instead of a partition
    of all N: the m-th largest of the maxima of blocks (m blocks reach it, one face each)."""
    blocks = len(sims) // _BLOCK
    values = sims if blocks < m else sims[: blocks * _BLOCK].reshape(blocks, _BLOCK).max(axis=1)
    return np.float32(np.partition(values, len(values) - m)[len(values) - m])


@dataclass(frozen=True)
class Rows:
    """A stable view of an index's faces, for listings (row i of every column is one face)."""

    face_ids: NDArray[np.void]
    codes: NDArray[np.int32]
    vectors: NDArray[np.float32]
    boxes: NDArray[np.float32]
    created_at: NDArray[np.float64]


class EmbeddingIndex:
    """The mutable columns of one model; the gallery serialises writes."""

    def __init__(self, dim: int, capacity: int = 0) -> None:
        self.dim = dim
        self.count = 0
        capacity = max(capacity, _MIN_SPARE)
        self.vectors: NDArray[np.float32] = np.empty((capacity, dim), dtype=np.float32)
        self.codes: NDArray[np.int32] = np.empty(capacity, dtype=np.int32)
        self.face_ids: NDArray[np.void] = np.empty(capacity, dtype=FACE_ID)
        self.boxes: NDArray[np.float32] = np.empty((capacity, 4), dtype=np.float32)
        self.created_at: NDArray[np.float64] = np.empty(capacity, dtype=np.float64)
        self.snapshot = Snapshot(self.vectors[:0], self.codes[:0], [])

    def __len__(self) -> int:
        return self.count

    @classmethod
    def of(
        cls,
        face_ids: NDArray[np.void],
        codes: NDArray[np.int32],
        vectors: NDArray[np.float32],
        boxes: NDArray[np.float32],
        created_at: NDArray[np.float64],
    ) -> EmbeddingIndex:
        """An index holding these arrays themselves, not copies (a full load: at 1M faces
        a copy of the matrix would be another 512 MB at the peak)."""
        sizes = {len(face_ids), len(codes), len(boxes), len(created_at)}
        if vectors.ndim != 2 or sizes != {len(vectors)}:
            raise ValueError(f"columns of different lengths: {sizes} and {vectors.shape}")
        index = cls(vectors.shape[1], capacity=0)
        index.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        index.codes = np.ascontiguousarray(codes, dtype=np.int32)
        index.face_ids = face_ids
        index.boxes = np.ascontiguousarray(boxes, dtype=np.float32)
        index.created_at = np.ascontiguousarray(created_at, dtype=np.float64)
        index.count = len(vectors)
        return index

    def append(
        self,
        face_ids: NDArray[np.void],
        codes: NDArray[np.int32],
        vectors: NDArray[np.float32],
        boxes: NDArray[np.float32],
        created_at: NDArray[np.float64],
    ) -> None:
        """Add K faces (row i: ``face_ids[i]``, subject code ``codes[i]``, ...)."""
        if vectors.ndim != 2 or vectors.shape[1] != self.dim or len(vectors) != len(codes):
            raise ValueError(f"expected ({len(codes)}, {self.dim}) embeddings, got {vectors.shape}")
        start, end = self.count, self.count + len(vectors)
        if end > len(self.vectors):
            self._copy(slice(None), end + max(_MIN_SPARE, end // 4))
        self.vectors[start:end] = vectors
        self.codes[start:end] = codes
        self.face_ids[start:end] = face_ids
        self.boxes[start:end] = boxes
        self.created_at[start:end] = created_at
        self.count = end

    def remove(self, rows: NDArray[np.bool_]) -> NDArray[np.int32]:
        """Drop the faces where ``rows`` (length :attr:`count`) is True, into fresh arrays;
        the subject codes they had."""
        removed = self.codes[: self.count][rows]
        kept = self.count - len(removed)
        self._copy(~rows, kept + max(_MIN_SPARE, kept // 8))
        self.count = kept
        return removed

    def recode(self, remap: NDArray[np.int32]) -> None:
        """Renumber subjects (after the table is compacted) into a fresh codes array."""
        self.codes = _fresh(remap[self.codes[: self.count]], len(self.codes))

    def rows(self) -> Rows:
        """The current faces; the view stays valid whatever the index does next."""
        n = self.count
        return Rows(
            self.face_ids[:n], self.codes[:n], self.vectors[:n], self.boxes[:n], self.created_at[:n]
        )

    def publish(self, names: list[str]) -> None:
        """Make the current rows what searches see."""
        self.snapshot = Snapshot(self.vectors[: self.count], self.codes[: self.count], names)

    def _copy(self, rows: slice | NDArray[np.bool_], capacity: int) -> None:
        """Fresh buffers of ``capacity`` rows holding the selected current rows."""
        n = self.count
        self.vectors = _fresh(self.vectors[:n][rows], capacity)
        self.codes = _fresh(self.codes[:n][rows], capacity)
        self.face_ids = _fresh(self.face_ids[:n][rows], capacity)
        self.boxes = _fresh(self.boxes[:n][rows], capacity)
        self.created_at = _fresh(self.created_at[:n][rows], capacity)


def _fresh(rows: _Array, capacity: int) -> _Array:
    """A new buffer of ``capacity`` rows starting with ``rows``; the old one is untouched, so
    snapshots that still point into it stay valid."""
    fresh = np.empty((capacity, *rows.shape[1:]), dtype=rows.dtype)
    fresh[: len(rows)] = rows
    return fresh  # type: ignore[return-value]
