"""The gallery against a plain Python reference: best face per subject, threshold, top-k."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from service.faces import (
    Gallery,
    NewFace,
    SqliteFaceStore,
    UnknownFaceError,
    UnknownSubjectError,
)

DIM = 16


def unit_rows(rng: np.random.Generator, n: int) -> NDArray[np.float32]:
    rows = rng.standard_normal((n, DIM)).astype(np.float32)
    unit: NDArray[np.float32] = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return unit


def new_faces(vectors: NDArray[np.float32]) -> list[NewFace]:
    return [NewFace(v, (0.0, 0.0, 10.0, 10.0)) for v in vectors]


@pytest.fixture
def gallery(tmp_path: Path) -> Gallery:
    gallery = Gallery(SqliteFaceStore(tmp_path / "gallery.sqlite3"))
    gallery.sync()
    return gallery


def reference(
    enrolled: dict[str, list[NDArray[np.float32]]], query: NDArray[np.float32], top_k: int
) -> list[tuple[str, float]]:
    """Best cosine per subject by loops, subjects in first-enrolment order for ties."""
    scores = [(s, max(float(v @ query) for v in vs)) for s, vs in enrolled.items() if vs]
    return sorted(scores, key=lambda item: -item[1])[:top_k]


@pytest.mark.parametrize("seed", range(8))
def test_search_equals_the_loop_reference(gallery: Gallery, seed: int) -> None:
    rng = np.random.default_rng(seed)
    enrolled: dict[str, list[NDArray[np.float32]]] = {}
    for i in range(int(rng.integers(1, 30))):
        subject = f"s{int(rng.integers(0, 12))}"
        vectors = unit_rows(rng, int(rng.integers(1, 4)))
        gallery.enrol(subject, "m", new_faces(vectors))
        enrolled.setdefault(subject, []).extend(vectors)
        if i % 7 == 6:  # deletions in between must keep the index in step
            victim = sorted(enrolled)[0]
            gallery.delete_subject(victim)
            del enrolled[victim]
    queries = unit_rows(rng, 5)
    top_k = int(rng.integers(1, 6))
    matches = gallery.search("m", queries, threshold=0.2, top_k=top_k)
    for query, match in zip(queries, matches, strict=True):
        expected = reference(enrolled, query, top_k)
        got = [(c.subject, c.similarity) for c in match.candidates]
        assert [s for s, _ in got] == [s for s, _ in expected]
        np.testing.assert_allclose([v for _, v in got], [v for _, v in expected], atol=1e-6)
        best = expected[0] if expected else None
        assert match.similarity == (pytest.approx(best[1], abs=1e-6) if best else None)
        assert match.subject == (best[0] if best and best[1] >= 0.2 else None)


def test_below_the_threshold_the_answer_is_unknown_not_the_nearest(gallery: Gallery) -> None:
    ann = np.eye(DIM, dtype=np.float32)[0]
    gallery.enrol("ann", "m", new_faces(ann[None]))
    near = np.zeros(DIM, dtype=np.float32)
    near[0], near[1] = 0.5, np.sqrt(0.75)  # cosine 0.5 with ann
    (match,) = gallery.search("m", near[None], threshold=0.6, top_k=3)
    assert match.subject is None
    assert match.similarity == pytest.approx(0.5)
    assert [c.subject for c in match.candidates] == ["ann"]
    (match,) = gallery.search("m", near[None], threshold=0.5, top_k=3)
    assert match.subject == "ann"  # "at or above" the threshold matches


def test_two_faces_share_a_subject_only_when_it_is_each_ones_best_match(gallery: Gallery) -> None:
    eye = np.eye(DIM, dtype=np.float32)
    gallery.enrol("ann", "m", new_faces(eye[:1]))
    gallery.enrol("bob", "m", new_faces(eye[1:2]))
    both_ann = np.stack([eye[0], 0.9 * eye[0] + np.sqrt(1 - 0.81) * eye[2]])
    matches = gallery.search("m", both_ann, threshold=0.5, top_k=2)
    assert [m.subject for m in matches] == ["ann", "ann"]
    leaning = np.stack([eye[0], 0.3 * eye[0] + np.sqrt(1 - 0.09) * eye[3]])
    matches = gallery.search("m", leaning, threshold=0.5, top_k=2)
    assert [m.subject for m in matches] == ["ann", None]


def test_every_stored_face_counts_none_is_averaged(gallery: Gallery) -> None:
    eye = np.eye(DIM, dtype=np.float32)
    gallery.enrol("ann", "m", new_faces(eye[:2]))  # two quite different photos of ann
    for axis in (0, 1):
        (match,) = gallery.search("m", eye[axis][None], threshold=0.9, top_k=1)
        assert match.subject == "ann" and match.similarity == pytest.approx(1.0)
    assert len(gallery.subjects()["ann"]) == 2


def test_models_are_never_compared_with_each_other(gallery: Gallery) -> None:
    eye = np.eye(DIM, dtype=np.float32)
    gallery.enrol("ann", "model-a", new_faces(eye[:1]))
    (match,) = gallery.search("model-b", eye[:1], threshold=0.1, top_k=3)
    assert (match.subject, match.similarity, match.candidates) == (None, None, [])


def test_an_empty_gallery_and_an_image_without_faces(gallery: Gallery) -> None:
    assert gallery.search("m", np.zeros((0, DIM), np.float32), threshold=0.3, top_k=3) == []
    (match,) = gallery.search("m", np.eye(DIM, dtype=np.float32)[:1], threshold=0.3, top_k=3)
    assert match.subject is None and match.candidates == []


def test_deleting_one_face_and_what_does_not_exist(gallery: Gallery) -> None:
    eye = np.eye(DIM, dtype=np.float32)
    first, second = gallery.enrol("ann", "m", new_faces(eye[:2]))
    gallery.delete_face("ann", first.face_id)
    (match,) = gallery.search("m", eye[:1], threshold=0.9, top_k=1)
    assert match.subject is None and match.similarity == pytest.approx(0.0)
    with pytest.raises(UnknownFaceError, match="has no face"):
        gallery.delete_face("ann", first.face_id)
    with pytest.raises(UnknownSubjectError, match="no subject 'bob'"):
        gallery.delete_face("bob", second.face_id)
    gallery.delete_face("ann", second.face_id)  # the last face: the subject is gone
    assert gallery.subjects() == {}
    with pytest.raises(UnknownSubjectError):
        gallery.delete_subject("ann")


def test_the_matrix_rebuilt_from_the_file_equals_the_live_one(tmp_path: Path) -> None:
    path = tmp_path / "gallery.sqlite3"
    live = Gallery(SqliteFaceStore(path))
    live.sync()
    rng = np.random.default_rng(3)
    for i in range(40):  # past the initial buffer capacity, with deletions in between
        live.enrol(f"s{i % 9}", "m", new_faces(unit_rows(rng, 2)))
        if i % 10 == 9:
            live.delete_subject(f"s{i % 9}")
    queries = unit_rows(rng, 4)
    before = live.search("m", queries, threshold=0.3, top_k=5)
    subjects = {s: [r.face_id for r in rs] for s, rs in live.subjects().items()}
    live.close()

    restarted = Gallery(SqliteFaceStore(path))

    restarted.sync()
    assert {s: [r.face_id for r in rs] for s, rs in restarted.subjects().items()} == subjects
    assert restarted.search("m", queries, threshold=0.3, top_k=5) == before
    restarted.close()


def test_concurrent_enrolment_and_search_stay_consistent(gallery: Gallery) -> None:
    rng = np.random.default_rng(5)
    probe = unit_rows(rng, 1)
    gallery.enrol("probe", "m", new_faces(probe))
    errors: list[BaseException] = []
    stop = threading.Event()

    def enrol(worker: int) -> None:
        local = np.random.default_rng(worker)
        try:
            for i in range(30):
                gallery.enrol(f"w{worker}-{i}", "m", new_faces(unit_rows(local, 2)))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    def search() -> None:
        try:
            while not stop.is_set():
                (match,) = gallery.search("m", probe, threshold=0.99, top_k=1)
                assert match.subject == "probe"
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    searchers = [threading.Thread(target=search) for _ in range(2)]
    writers = [threading.Thread(target=enrol, args=(w,)) for w in range(4)]
    for thread in searchers + writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    for thread in searchers:
        thread.join()
    assert errors == []
    assert len(gallery.subjects()) == 1 + 4 * 30
    assert sum(len(r) for r in gallery.subjects().values()) == 1 + 4 * 30 * 2


@pytest.mark.parametrize("seed", range(4))
def test_ties_and_thresholds_equal_the_loop_reference(gallery: Gallery, seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    levels = rng.integers(-1, 2, size=(400, DIM)).astype(np.float32)
    levels[~levels.any(axis=1), 0] = 1.0
    vectors = levels / np.linalg.norm(levels, axis=1, keepdims=True)  # few values: many ties
    enrolled: dict[str, list[NDArray[np.float32]]] = {}
    for start in range(0, 400, 4):
        subject = f"s{int(rng.integers(0, 60))}"
        gallery.enrol(subject, "m", new_faces(vectors[start : start + 4]))
        enrolled.setdefault(subject, []).extend(vectors[start : start + 4])
        if start % 100 == 96:  # a subject deleted, perhaps enrolled again later (a new code)
            victim = sorted(enrolled)[seed]
            gallery.delete_subject(victim)
            del enrolled[victim]
    queries = vectors[rng.choice(400, 6)]
    matches = gallery.search("m", queries, threshold=0.0, top_k=7)
    for query, match in zip(queries, matches, strict=True):
        expected = reference(enrolled, query, 7)
        assert [c.subject for c in match.candidates] == [s for s, _ in expected]
        tau = expected[0][1]  # the best similarity (to float rounding) matches, above it not
        (at,) = gallery.search("m", query[None], threshold=tau - 1e-6, top_k=1)
        (above,) = gallery.search("m", query[None], threshold=tau + 1e-4, top_k=1)
        assert (at.subject, above.subject) == (expected[0][0], None)
