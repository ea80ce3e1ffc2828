"""The per-model columns and their search, against a brute-force per-subject reference."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from service.faces.index import FACE_ID, EmbeddingIndex, Snapshot


def reference(
    vectors: NDArray[np.float32], codes: NDArray[np.int32], query: NDArray[np.float32], k: int
) -> list[tuple[int, float]]:
    """Best cosine per subject by a loop over subjects; ties to the lower code."""
    sims = vectors @ query
    best = {int(code): float(sims[codes == code].max()) for code in np.unique(codes)}
    return sorted(best.items(), key=lambda item: (-item[1], item[0]))[:k]


def snapshot(vectors: NDArray[np.float32], codes: NDArray[np.int32]) -> Snapshot:
    names = [f"s{i}" for i in range(int(codes.max()) + 1)]
    return Snapshot(vectors, codes, names)


def quantised_unit_rows(rng: np.random.Generator, n: int, dim: int) -> NDArray[np.float32]:
    """Rows from a few values only, so many faces tie exactly with each other."""
    rows = rng.integers(-1, 2, size=(n, dim)).astype(np.float32)
    rows[~rows.any(axis=1), 0] = 1.0
    unit: NDArray[np.float32] = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return unit


@pytest.mark.parametrize(
    ("n", "subjects", "k"),
    [
        (40, 7, 3),  # fewer faces than the first candidate count: every face is reduced
        (3_000, 600, 5),  # a partition of all similarities gives the cutoff
        (40_000, 8_000, 3),  # block maxima give the cutoff (N / 256 blocks > candidates)
        (40_000, 8_000, 200),  # a k larger than the first candidate count allows
        (20_000, 3, 3),  # few subjects with thousands of faces each: the cutoff must widen
    ],
)
def test_best_subjects_equal_the_per_subject_reference_with_ties(
    n: int, subjects: int, k: int
) -> None:
    rng = np.random.default_rng(n + subjects + k)
    vectors = quantised_unit_rows(rng, n, 4)
    codes = rng.integers(0, subjects, n).astype(np.int32)
    view = snapshot(vectors, codes)
    ties = 0
    for query in quantised_unit_rows(rng, 4, 4):
        sims = view.similarities(query[None])[0]
        got = view.best_subjects(sims, k)
        expected = reference(vectors, codes, query, k)
        assert [code for code, _ in got] == [code for code, _ in expected]
        np.testing.assert_allclose([s for _, s in got], [s for _, s in expected], atol=1e-6)
        every = [score for _, score in reference(vectors, codes, query, subjects)]
        ties += len(every) - len(set(every))
    assert ties  # the data does have subjects that tie


def test_one_subject_holding_the_nearest_faces_does_not_hide_the_next_subjects() -> None:
    rng = np.random.default_rng(0)
    query = np.eye(8, dtype=np.float32)[0]
    vectors = rng.standard_normal((40_000, 8)).astype(np.float32)
    vectors[::2] = query + 0.01 * rng.standard_normal((20_000, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    codes = rng.integers(1, 900, 40_000).astype(np.int32)
    codes[::2] = 0  # every block's best face is one of subject 0's
    view = snapshot(vectors, codes)
    got = view.best_subjects(view.similarities(query[None])[0], 4)
    assert got[0][0] == 0
    assert [c for c, _ in got] == [c for c, _ in reference(vectors, codes, query, 4)]


def test_several_queries_in_one_pass_equal_one_at_a_time() -> None:
    rng = np.random.default_rng(1)
    vectors = quantised_unit_rows(rng, 500, 6)
    view = snapshot(vectors, rng.integers(0, 50, 500).astype(np.int32))
    queries = quantised_unit_rows(rng, 3, 6)
    together = view.similarities(queries)
    for query, row in zip(queries, together, strict=True):
        np.testing.assert_allclose(row, view.similarities(query[None])[0], atol=1e-6)


def test_the_columns_hold_no_python_object_per_face() -> None:
    index = EmbeddingIndex(128)
    count = 1_000
    index.append(
        np.frombuffer(np.random.default_rng(2).bytes(16 * count), dtype=FACE_ID),
        np.arange(count, dtype=np.int32) // 5,
        np.ones((count, 128), np.float32),
        np.zeros((count, 4), np.float32),
        np.zeros(count, np.float64),
    )
    rows = index.rows()
    columns = [rows.face_ids, rows.codes, rows.vectors, rows.boxes, rows.created_at]
    assert not any(column.dtype.hasobject for column in columns)
    f32, f64, i32 = np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int32)
    assert [column.dtype for column in columns] == [FACE_ID, i32, f32, f32, f64]
    per_face = sum(column.nbytes for column in columns) / count
    assert per_face == 512 + 16 + 4 + 16 + 8  # vector, id, subject code, box, created_at


def test_views_stay_valid_while_the_index_grows_and_shrinks() -> None:
    index = EmbeddingIndex(4)
    ids = np.frombuffer(bytes(range(16 * 3)), dtype=FACE_ID)
    vectors = np.eye(4, dtype=np.float32)[:3]
    index.append(ids, np.array([0, 1, 2], np.int32), vectors, np.zeros((3, 4), np.float32),
                 np.arange(3.0))  # fmt: skip
    index.publish(["a", "b", "c"])
    before, rows = index.snapshot, index.rows()
    for _ in range(100):  # past the spare capacity: the buffers are replaced
        index.append(ids[:1], np.array([0], np.int32), vectors[:1], np.zeros((1, 4), np.float32),
                     np.zeros(1))  # fmt: skip
    removed = index.remove(np.arange(index.count) == 1)
    index.publish(["a", "b", "c"])
    assert removed.tolist() == [1]
    assert before.vectors.tolist() == vectors.tolist() and before.codes.tolist() == [0, 1, 2]
    assert rows.face_ids.tolist() == ids.tolist() and rows.created_at.tolist() == [0, 1, 2]
    assert len(index.snapshot.vectors) == 102 and 1 not in index.snapshot.codes


def test_a_wrong_shape_is_refused() -> None:
    index = EmbeddingIndex(4)
    with pytest.raises(ValueError, match=r"expected \(1, 4\) embeddings"):
        index.append(np.empty(1, FACE_ID), np.zeros(1, np.int32), np.zeros((1, 3), np.float32),
                     np.zeros((1, 4), np.float32), np.zeros(1))  # fmt: skip


def test_a_full_load_is_held_without_copying_and_checked_for_length() -> None:
    vectors = np.ones((3, 4), np.float32)
    ids = np.zeros(3, FACE_ID)
    codes, boxes, created = np.zeros(3, np.int32), np.zeros((3, 4), np.float32), np.zeros(3)
    index = EmbeddingIndex.of(ids, codes, vectors, boxes, created)
    assert index.vectors is vectors and index.face_ids is ids and len(index) == 3
    with pytest.raises(ValueError, match="different lengths"):
        EmbeddingIndex.of(ids[:2], codes, vectors, boxes, created)
