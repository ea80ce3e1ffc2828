"""Subjects as small integer codes, in order of first enrolment, shared by every model's index.

Codes order the subjects (ties in a search go to the lower code, the earlier enrolled), so a
code is never reused: a subject whose last face goes keeps its dead code until
:meth:`SubjectTable.compacted` renumbers. ``names`` is append-only between compactions, so a
search snapshot holding it (and codes into it) stays valid while the gallery changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

_MIN_DEAD_TO_COMPACT = 1024


class SubjectTable:
    """The names by code and how many faces (of any model) each code holds."""

    def __init__(self, names: Sequence[str] = (), counts: NDArray[np.int64] | None = None) -> None:
        """``counts``: faces per code of ``names`` (a name is live when it has any)."""
        self.names: list[str] = list(names)
        self._counts = np.zeros(max(64, len(self.names)), dtype=np.int64)
        if counts is None:
            self._code_of = {name: code for code, name in enumerate(self.names)}
        else:
            self._counts[: len(self.names)] = counts
            live = np.flatnonzero(counts > 0).tolist()
            self._code_of = {self.names[code]: code for code in live}

    def __contains__(self, name: object) -> bool:
        return name in self._code_of

    def __len__(self) -> int:
        """The live subjects (with at least one face)."""
        return len(self._code_of)

    def register(self, names: Iterable[str]) -> None:
        """Give the names not yet live a code each, in this order (before counting faces)."""
        for name in names:
            if name not in self._code_of:
                self._code_of[name] = len(self.names)
                self.names.append(name)

    def add_faces(self, names: Sequence[str]) -> NDArray[np.int32]:
        """The codes of one new face per name (registering new names); counts them."""
        self.register(names)
        codes = np.fromiter((self._code_of[name] for name in names), np.int32, len(names))
        if len(self.names) > len(self._counts):
            grown = np.zeros(max(len(self.names), 2 * len(self._counts)), dtype=np.int64)
            grown[: len(self._counts)] = self._counts
            self._counts = grown
        self._counts += np.bincount(codes, minlength=len(self._counts))
        return codes

    def remove_faces(self, codes: NDArray[np.int32]) -> None:
        """Uncount faces; a subject left with none is no longer live (its code goes dead)."""
        self._counts -= np.bincount(codes, minlength=len(self._counts))
        for code in np.unique(codes):
            if self._counts[code] == 0:
                del self._code_of[self.names[code]]

    def code(self, name: str) -> int | None:
        return self._code_of.get(name)

    def compacted(self) -> tuple[SubjectTable, NDArray[np.int32]] | None:
        """A renumbered table without dead codes and old code -> new code; None if not worth it."""
        dead = len(self.names) - len(self._code_of)
        if dead < max(_MIN_DEAD_TO_COMPACT, len(self._code_of)):
            return None
        counts = self._counts[: len(self.names)]
        live = counts > 0
        remap = (np.cumsum(live) - 1).astype(np.int32)
        names = [name for name, keep in zip(self.names, live, strict=True) if keep]
        return SubjectTable(names, counts[live]), remap

    def packed(self) -> PackedNames:
        """The table as three objects, whatever its size (see :class:`PackedNames`)."""
        lengths = np.fromiter((len(name) for name in self.names), np.int64, len(self.names))
        counts = self._counts[: len(self.names)].copy()
        return PackedNames("".join(self.names), np.cumsum(lengths), counts)

    @classmethod
    def unpacked(cls, packed: PackedNames) -> SubjectTable:
        starts = np.concatenate([[0], packed.ends])[:-1]
        # numpy scalars, not a list of ints: nothing small outlives the loop among the names
        names = [packed.joined[a:b] for a, b in zip(starts, packed.ends, strict=True)]
        return cls(names, packed.counts)


@dataclass(frozen=True)
class PackedNames:
    """A table's names joined into one string, for a bulk load to hand over.

    A load makes a string per row; the names the table keeps are one row in five, so they sit
    among the others in the allocator's memory and would keep nearly all of it resident
    (150 MB at 1M faces, measured). Packed, the table holds no small object while the rows
    are freed; unpacked afterwards, the names fill fresh memory densely.
    """

    joined: str
    ends: NDArray[np.int64]  # name i is joined[ends[i - 1]:ends[i]]
    counts: NDArray[np.int64]  # faces per code
