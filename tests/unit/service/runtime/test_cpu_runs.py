"""CpuRuns: a lone run on the lone-run session holding every turn, overlapping runs shared."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest

from service.runtime.cpu_runs import CpuRuns, Requests
from service.runtime.turns import Turns


class _Session:
    """A stand-in for an onnxruntime session: notes each run (name, turns free during it) and
    can hold a run inside until released."""

    def __init__(self, name: str, log: list[tuple[str, int]], turns: Turns) -> None:
        self.name, self.log, self.turns = name, log, turns
        self.inside = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def run(self, _outputs: Any, feeds: dict[str, Any]) -> list[Any]:
        self.log.append((self.name, self.turns._free))
        self.inside.set()
        self.release.wait(timeout=5)
        return [feeds["x"]]


X = np.zeros(3, np.float32)  # what a run is fed: its value does not matter here


def _runs(turns: int = 2) -> tuple[CpuRuns, _Session, _Session, list[tuple[str, int]]]:
    log: list[tuple[str, int]] = []
    shared_turns = Turns(turns)
    shared = _Session("shared", log, shared_turns)
    lone = _Session("lone", log, shared_turns)
    return CpuRuns(shared, lone, shared_turns), shared, lone, log


def test_a_lone_run_uses_the_lone_session_and_holds_every_turn() -> None:
    runs, _, _, log = _runs()
    x = np.ones(3)
    assert runs.run({"x": x})[0] is x
    assert log == [("lone", 0)]
    assert runs.turns._free == 2  # all given back


def test_a_run_that_overlaps_another_uses_the_shared_session() -> None:
    runs, _, _, log = _runs()
    runs.turns.take()  # another run holds one of the two turns
    runs.run({"x": X})
    assert log == [("shared", 0)]
    runs.turns.give(1)
    runs.run({"x": X})
    assert log[-1] == ("lone", 0)


def test_runs_arriving_during_a_lone_run_wait_then_share() -> None:
    runs, _, lone, log = _runs()
    lone.release.clear()
    first = threading.Thread(target=runs.run, args=({"x": X},))
    first.start()
    assert lone.inside.wait(timeout=5)
    second = threading.Thread(target=runs.run, args=({"x": X},))
    second.start()
    deadline = time.monotonic() + 5
    while runs.turns.waiting != 1:  # the newcomer waits for a turn: nothing overlaps a lone run
        assert time.monotonic() < deadline, "the second run never waited"
        time.sleep(0.001)
    assert [name for name, _ in log] == ["lone"]
    lone.release.set()
    first.join(timeout=5)
    second.join(timeout=5)
    assert [name for name, _ in log] == ["lone", "shared"]  # handed one turn, not all


def test_without_a_lone_session_every_run_is_shared() -> None:
    log: list[tuple[str, int]] = []
    turns = Turns(2)
    runs = CpuRuns(_Session("shared", log, turns), None, turns)
    runs.run({"x": X})
    assert log == [("shared", 1)]


def test_an_error_gives_every_turn_back(monkeypatch: pytest.MonkeyPatch) -> None:
    runs, _, lone, _ = _runs()

    def fail(*_: Any) -> list[Any]:
        raise RuntimeError("onnxruntime failed")

    monkeypatch.setattr(lone, "run", fail)
    with pytest.raises(RuntimeError, match="failed"):
        runs.run({"x": X})
    assert runs.turns._free == 2


def test_a_run_is_not_lone_while_its_request_has_company() -> None:
    """Every turn free, but another request is decoding: no spinning over its core."""
    log: list[tuple[str, int]] = []
    turns, requests = Turns(2), Requests()
    runs = CpuRuns(_Session("shared", log, turns), _Session("lone", log, turns), turns, requests)
    with requests.hold(), requests.hold():
        runs.run({"x": X})
    with requests.hold():
        runs.run({"x": X})
    assert [name for name, _ in log] == ["shared", "lone"]
    assert requests.held == 0


def test_one_turn_and_company_still_means_the_shared_session() -> None:
    """With a single turn every run holds them all, but a crowded one must not spin."""
    log: list[tuple[str, int]] = []
    turns, requests = Turns(1), Requests()
    runs = CpuRuns(_Session("shared", log, turns), _Session("lone", log, turns), turns, requests)
    with requests.hold(), requests.hold():
        runs.run({"x": X})
    runs.run({"x": X})
    assert [name for name, _ in log] == ["shared", "lone"]
