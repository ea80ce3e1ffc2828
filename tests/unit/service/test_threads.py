"""ThreadPlan: threads, spinning, CPU turns, admission slots and the thread pool per machine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from service.settings import Settings
from service.threads import ThreadPlan, cgroup_quota, parse_cpu_max, usable_cores


@pytest.mark.parametrize("cores", [1, 2, 4, 16])
def test_defaults_give_a_run_per_core_a_lone_run_every_core_and_slots_to_overlap(
    cores: int,
) -> None:
    plan = ThreadPlan.choose(Settings(), cores)
    assert plan == ThreadPlan(
        cores=cores,
        intra_op_threads=1,
        inter_op_threads=1,
        spinning=False,
        inference_runs=cores,
        lone_run_threads=cores,
        admission_slots=2 * cores,
        thread_pool=3 * cores,
    )
    assert plan.lone_runs is (cores > 1)  # one core: the shared session is already that


def test_a_lone_run_session_only_when_it_gets_more_threads() -> None:
    assert not ThreadPlan.choose(Settings(lone_run_threads=1), 4).lone_runs
    assert not ThreadPlan.choose(Settings(intra_op_threads=4), 4).lone_runs
    plan = ThreadPlan.choose(Settings(intra_op_threads=2, lone_run_threads=3), 4)
    assert (plan.intra_op_threads, plan.inference_runs, plan.lone_run_threads) == (2, 2, 3)
    assert plan.lone_runs


@pytest.mark.parametrize("cores", range(1, 33))
def test_threads_times_runs_never_exceed_the_cores(cores: int) -> None:
    for intra in range(1, cores + 1):
        plan = ThreadPlan.choose(Settings(intra_op_threads=intra), cores)
        assert plan.intra_op_threads * plan.inference_runs <= cores
        assert plan.inference_runs == cores // intra  # and the cores are all used


def test_more_threads_than_cores_still_gets_one_run() -> None:
    plan = ThreadPlan.choose(Settings(intra_op_threads=8), 2)
    assert (plan.intra_op_threads, plan.inference_runs) == (8, 1)


def test_settings_given_are_kept_as_given() -> None:
    settings = Settings(
        intra_op_threads=3,
        inter_op_threads=2,
        ort_spinning=True,
        inference_concurrency=5,
        lone_run_threads=6,
        max_concurrency=7,
        thread_pool_size=11,
    )
    plan = ThreadPlan.choose(settings, 2)
    assert (plan.intra_op_threads, plan.inter_op_threads, plan.spinning) == (3, 2, True)
    assert (plan.inference_runs, plan.lone_run_threads) == (5, 6)
    assert (plan.admission_slots, plan.thread_pool) == (7, 11)


def test_thread_pool_follows_the_admission_slots_given() -> None:
    assert ThreadPlan.choose(Settings(max_concurrency=6), 2).thread_pool == 8


def test_no_cores_counts_as_one() -> None:
    assert ThreadPlan.choose(Settings(), 0).cores == 1


@pytest.mark.parametrize(
    ("text", "cores"),
    [
        ("150000 100000\n", 1.5),
        ("200000 100000", 2.0),
        ("max 100000\n", None),
        ("-1 100000", None),  # cgroup v1: no quota
        ("0 100000", None),
        ("garbage", None),
        ("a b", None),
    ],
)
def test_cpu_max_is_read_as_cores(text: str, cores: float | None) -> None:
    assert parse_cpu_max(text) == cores


def test_cgroup_v2_quota(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("250000 100000\n")
    assert cgroup_quota(tmp_path) == 2.5


def test_cgroup_v1_quota(tmp_path: Path) -> None:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_quota(tmp_path) == 1.0


def test_no_cgroup_files_is_no_quota(tmp_path: Path) -> None:
    assert cgroup_quota(tmp_path) is None


def _affinity(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: set(range(count)), raising=False)


@pytest.mark.parametrize(("quota", "cores"), [("150000 100000", 1), ("50000 100000", 1)])
def test_a_quota_below_the_affinity_caps_the_cores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, quota: str, cores: int
) -> None:
    _affinity(monkeypatch, 8)
    (tmp_path / "cpu.max").write_text(quota)
    assert usable_cores(tmp_path) == cores


def test_a_quota_above_the_affinity_leaves_the_affinity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _affinity(monkeypatch, 3)
    (tmp_path / "cpu.max").write_text("800000 100000")
    assert usable_cores(tmp_path) == 3


def test_without_a_quota_the_affinity_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _affinity(monkeypatch, 5)
    assert usable_cores(tmp_path) == 5
