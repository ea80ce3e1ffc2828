"""k-means anchors: hand-checkable clusters, the 1 - IoU distance, determinism, and the CLI.

Centres are the (count-weighted) arithmetic MEAN of their cluster, so the cluster data below is
skewed to make the mean and the median differ.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from detection.anchors import kmeans_anchors, main, wh_iou
from detection.errors import DetectionError


def naive_iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Corner-aligned IoU of two (w, h) sizes, written out by hand."""
    inter = min(a[0], b[0]) * min(a[1], b[1])
    return inter / (a[0] * a[1] + b[0] * b[1] - inter)


CLUSTERS = [
    [(10, 20), (10, 20), (10, 20), (14, 24)],  # mean (11, 21), median (10, 20)
    [(50, 40), (50, 40), (58, 40), (50, 48)],  # mean (52, 42), median (50, 40)
    [(200, 150), (200, 150), (200, 150), (220, 170)],  # mean (205, 155), median (200, 150)
]
CLUSTER_MEANS = [(11, 21), (52, 42), (205, 155)]  # by hand; already in ascending area


def test_iou_distance_by_hand() -> None:
    iou = wh_iou([[2, 2], [2, 6]], [[4, 4], [4, 3], [2, 2]])
    assert iou.shape == (2, 3)
    assert iou[0, 0] == pytest.approx(4 / 16)
    assert 1 - iou[0, 0] == pytest.approx(0.75)
    assert iou[1, 1] == pytest.approx(6 / 18)  # inter 2x3, union 12 + 12 - 6
    assert iou[0, 2] == 1.0


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_well_separated_clusters_give_their_means(seed: int) -> None:
    wh = np.array([size for cluster in CLUSTERS for size in cluster], dtype=np.float64)
    result = kmeans_anchors(wh, 3, seed=seed)
    assert result.anchors.dtype == np.float32
    assert result.anchors.shape == (3, 2)
    np.testing.assert_allclose(result.anchors, CLUSTER_MEANS, rtol=1e-6)
    np.testing.assert_array_equal(result.assignments, np.repeat([0, 1, 2], 4))
    assert result.assignments.dtype == np.int64
    assert result.converged


def test_mean_best_iou_is_one_for_identical_boxes() -> None:
    result = kmeans_anchors([[3, 5]] * 4 + [[8, 2]] * 6, 2)
    np.testing.assert_array_equal(result.anchors, [[3, 5], [8, 2]])  # areas 15 < 16
    assert result.mean_best_iou == 1.0
    assert kmeans_anchors([[7, 7]] * 5, 1).mean_best_iou == 1.0


def test_mean_best_iou_matches_a_naive_computation() -> None:
    rng = np.random.default_rng(5)
    wh = rng.uniform(2, 300, (80, 2))
    result = kmeans_anchors(wh, 5)
    best = [max(naive_iou(tuple(box), tuple(anchor)) for anchor in result.anchors) for box in wh]
    assert result.mean_best_iou == pytest.approx(np.mean(best), rel=1e-6)
    chosen = [
        naive_iou(tuple(box), tuple(result.anchors[i]))
        for box, i in zip(wh, result.assignments, strict=True)
    ]
    np.testing.assert_allclose(chosen, best, rtol=1e-12)


def test_a_box_joins_the_cluster_it_overlaps_not_the_euclidean_nearest() -> None:
    # (40, 40) is nearer (10, 10) in Euclidean distance, but overlaps (100, 100) more
    # (IoU 0.16 vs 0.0625), so it joins that cluster and pulls its mean to 2040 / 21.
    wh = [[10, 10]] * 20 + [[100, 100]] * 20 + [[40, 40]]
    result = kmeans_anchors(wh, 2)
    expected = np.array([[10.0, 10.0], [2040 / 21, 2040 / 21]])
    np.testing.assert_allclose(result.anchors, expected, rtol=1e-6)
    assert result.assignments[-1] == 1


def test_deterministic_for_a_seed_and_independent_of_input_order() -> None:
    rng = np.random.default_rng(11)
    wh = rng.lognormal(3.5, 0.8, (500, 2))
    first, again = kmeans_anchors(wh, 9, seed=3), kmeans_anchors(wh, 9, seed=3)
    np.testing.assert_array_equal(first.anchors, again.anchors)
    np.testing.assert_array_equal(first.assignments, again.assignments)
    assert first.mean_best_iou == again.mean_best_iou
    order = rng.permutation(wh.shape[0])
    shuffled = kmeans_anchors(wh[order], 9, seed=3)
    np.testing.assert_array_equal(shuffled.anchors, first.anchors)
    np.testing.assert_array_equal(shuffled.assignments, first.assignments[order])


def test_anchors_are_sorted_by_area() -> None:
    result = kmeans_anchors(np.random.default_rng(2).uniform(1, 200, (300, 2)), 9)
    areas = result.anchors[:, 0] * result.anchors[:, 1]
    assert np.all(np.diff(areas) >= 0)


@pytest.mark.parametrize("seed", [0, 132])
def test_converged_clusters_are_never_empty(seed: int) -> None:
    # With this data a cluster empties mid-run for seed 132 and is re-seeded with the worst box.
    wh = np.random.default_rng(seed).uniform(1, 100, (60, 2))
    result = kmeans_anchors(wh, 20, seed=seed)
    assert result.converged
    assert np.bincount(result.assignments, minlength=20).min() >= 1
    assert np.unique(result.anchors, axis=0).shape[0] == 20


def test_max_iter_reached_is_reported_and_assignments_fit_the_anchors() -> None:
    wh = np.random.default_rng(4).uniform(1, 100, (200, 2))
    result = kmeans_anchors(wh, 9, max_iter=1)
    assert not result.converged
    iou = [[naive_iou(tuple(box), tuple(anchor)) for anchor in result.anchors] for box in wh]
    np.testing.assert_array_equal(result.assignments, np.argmax(iou, axis=1))


def test_sizes_whose_iou_rounds_to_one_still_give_k_anchors() -> None:
    # Distinct by one ulp, so k=2 is allowed, yet their IoU is exactly 1.0 in float64.
    wh = [[1.0, 1.0], [1.0, np.nextafter(1.0, 2.0)]]
    result = kmeans_anchors(wh, 2)
    np.testing.assert_array_equal(result.anchors, [[1, 1], [1, 1]])
    assert result.mean_best_iou == 1.0


def test_refusals() -> None:
    with pytest.raises(DetectionError, match="no boxes"):
        kmeans_anchors(np.zeros((0, 2)), 3)
    with pytest.raises(DetectionError, match="only 2 distinct sizes"):
        kmeans_anchors([[1, 1], [1, 1], [2, 2]], 3)
    with pytest.raises(DetectionError, match="k and max_iter"):
        kmeans_anchors([[1, 1]], 0)
    with pytest.raises(DetectionError, match=r"\(N, 2\)"):
        kmeans_anchors([[1, 2, 3]], 1)
    with pytest.raises(DetectionError, match="finite and > 0"):
        kmeans_anchors([[1, 0]], 1)
    with pytest.raises(DetectionError, match="finite and > 0"):
        wh_iou([[np.nan, 1]], [[1, 1]])
    assert wh_iou([], [[1, 1]]).shape == (0, 1)


def write_labels(folder: Path) -> Path:
    """Two files: sizes (0.1, 0.2) x2 and (0.5, 0.25) x2, plus malformed lines in b.txt."""
    (folder / "a.txt").write_text("0 0.5 0.5 0.1 0.2\n1 0.3 0.3 0.1 0.2\n")
    (folder / "b.txt").write_text(
        "0 0.5 0.5 0.5 0.25\n"
        "2 0.5 0.5 oops 0.1\n"
        "\n"
        "0 0.5 0.5 0.5 0.25\n"
        "3 0.5 0.5 0.5\n"
        "1.5 0.5 0.5 0.5 0.25\n"
        "0 0.5 0.5 1.5 0.25\n"
    )
    (folder / "notes.md").write_text("not a label file\n")
    return folder / "b.txt"


def test_cli_prints_anchors_and_reports_bad_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad_file = write_labels(tmp_path)
    assert main([str(tmp_path), "--k", "2", "--img-size", "100"]) == 0
    out, err = capsys.readouterr()
    assert "10,20, 50,25" in out  # (0.1, 0.2) and (0.5, 0.25) times 100, by area
    assert "mean best IoU: 1.0000" in out
    assert "4 boxes in 2 files (4 lines skipped)" in out
    for line in (2, 5, 6, 7):
        assert f"{bad_file}:{line}:" in err
    assert f"{bad_file}:3:" not in err  # blank lines are not errors


def test_cli_img_size_scales_and_rounds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "x.txt").write_text("0 0.5 0.5 0.1 0.2\n0 0.5 0.5 0.0015 0.2\n")
    assert main([str(tmp_path), "--k", "2", "--img-size", "640"]) == 0
    # 0.0015 * 640 = 0.96 -> 1 px; 0.1 * 640 = 64, 0.2 * 640 = 128
    assert "1,128, 64,128" in capsys.readouterr().out


def test_cli_fails_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_labels(tmp_path)
    assert main([str(tmp_path), "--k", "3"]) == 1
    assert "only 2 distinct sizes" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([str(empty)]) == 1
    assert "no boxes" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "missing")])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit):
        main([str(tmp_path), "--img-size", "0"])


def test_cli_warns_when_max_iter_runs_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sizes = np.random.default_rng(4).uniform(0.01, 0.9, (200, 2))
    (tmp_path / "x.txt").write_text("".join(f"0 0.5 0.5 {w} {h}\n" for w, h in sizes))
    assert main([str(tmp_path), "--max-iter", "1"]) == 0
    assert "before converging" in capsys.readouterr().err
    assert main([str(tmp_path)]) == 0
    assert "before converging" not in capsys.readouterr().err


def test_module_runs_from_the_command_line(tmp_path: Path) -> None:
    write_labels(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "detection.anchors", str(tmp_path), "--k", "1", "--img-size", "100"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "mean best IoU" in result.stdout
    assert "RuntimeWarning" not in result.stderr
