"""Turns: at most n holders, a freed turn going to the oldest waiter."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from service.runtime.turns import Turns, cpu_turns


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 5.0
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.001)


def _waiting(turns: Turns, count: int) -> Callable[[], bool]:
    return lambda: turns.waiting == count


def test_waiters_get_their_turn_in_arrival_order() -> None:
    turns = Turns(1)
    order: list[int] = []
    threads = []
    with turns:  # hold the only turn while five threads line up, one after another
        for index in range(5):

            def take(index: int = index) -> None:
                with turns:
                    order.append(index)

            thread = threading.Thread(target=take)
            thread.start()
            threads.append(thread)
            _wait_until(_waiting(turns, index + 1), f"{index + 1} wait")
    for thread in threads:
        thread.join(timeout=5)
    assert order == [0, 1, 2, 3, 4]


def test_a_newcomer_does_not_overtake_a_waiter() -> None:
    turns = Turns(1)
    order: list[str] = []
    turns.__enter__()
    waiter = threading.Thread(target=lambda: _take(turns, order, "waiter"))
    waiter.start()
    _wait_until(_waiting(turns, 1), "the waiter waits")
    turns.__exit__(None, None, None)  # the turn goes to the waiter, not back to the pool
    _take(turns, order, "newcomer")  # at once, while the waiter is still waking up
    waiter.join(timeout=5)
    assert order == ["waiter", "newcomer"]


def _take(turns: Turns, order: list[str], name: str) -> None:
    with turns:
        order.append(name)


def test_n_holders_at_once_and_no_more() -> None:
    turns = Turns(2)
    turns.__enter__()
    turns.__enter__()
    third = threading.Thread(target=lambda: _take(turns, [], "third"))
    third.start()
    _wait_until(_waiting(turns, 1), "the third waits")
    assert third.is_alive()
    turns.__exit__(None, None, None)
    third.join(timeout=5)
    assert not third.is_alive()
    assert turns.waiting == 0


def test_a_failing_block_gives_its_turn_back() -> None:
    turns = Turns(1)
    with pytest.raises(RuntimeError), turns:
        raise RuntimeError("inference failed")
    done = threading.Thread(target=lambda: _take(turns, [], "next"))
    done.start()
    done.join(timeout=5)
    assert not done.is_alive()


def test_no_turns_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one turn"):
        Turns(0)


def test_one_set_of_turns_per_size_for_the_whole_process() -> None:
    assert cpu_turns(3) is cpu_turns(3)
    assert cpu_turns(3) is not cpu_turns(4)
    assert cpu_turns(4).n == 4


def test_every_turn_is_taken_only_when_all_are_free_and_nobody_waits() -> None:
    turns = Turns(3)
    assert turns.take(every=True) == 3  # the machine to itself
    waiter = threading.Thread(target=lambda: _take(turns, [], "waiter"))
    waiter.start()
    _wait_until(_waiting(turns, 1), "the waiter waits while every turn is held")
    turns.give(3)  # one goes to the waiter, two are free again
    waiter.join(timeout=5)
    assert not waiter.is_alive()
    assert turns.take(every=True) == 3
    turns.give(3)
    with turns:  # one held: a run asking for every turn gets one
        assert turns.take(every=True) == 1
        turns.give(1)


def test_a_waiter_asking_for_every_turn_gets_one() -> None:
    turns = Turns(2)
    turns.take()
    turns.take()
    got: list[int] = []
    waiter = threading.Thread(target=lambda: got.append(turns.take(every=True)))
    waiter.start()
    _wait_until(_waiting(turns, 1), "the waiter waits")
    turns.give(1)
    waiter.join(timeout=5)
    assert got == [1]  # someone else still runs: sharing the cores, not taking them all
