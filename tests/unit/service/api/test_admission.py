"""Bounded concurrency: some run, some wait, the rest get 503 with Retry-After at once."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable

import anyio
import httpx
import pytest
from fastapi import FastAPI

from service.api import create_app
from service.api.admission import Admission
from service.api.errors import OverloadedError
from service.api.problems import problem_for_exception
from service.runtime.cpu_runs import REQUESTS
from service.settings import Settings
from tests.unit.service.api.fakes import FakeDetector, FakeRegistry, encode


def test_slots_then_queue_then_refusal() -> None:
    async def main() -> None:
        admission = Admission(slots=1, queue=1)
        running, release = anyio.Event(), anyio.Event()
        order: list[str] = []

        async def first() -> None:
            async with admission.slot():
                order.append("first runs")
                running.set()
                await release.wait()

        async def second() -> None:
            async with admission.slot():
                order.append("second runs")

        async with anyio.create_task_group() as group:
            group.start_soon(first)
            await running.wait()
            group.start_soon(second)
            await anyio.wait_all_tasks_blocked()
            assert admission.admitted == 2  # one running, one waiting
            with pytest.raises(OverloadedError):
                async with admission.slot():
                    pass
            release.set()
        assert order == ["first runs", "second runs"]
        assert admission.admitted == 0

    anyio.run(main)


@pytest.mark.parametrize(("slots", "queue"), [(0, 1), (1, -1)])
def test_nonsense_bounds_are_refused(slots: int, queue: int) -> None:
    with pytest.raises(ValueError):
        Admission(slots=slots, queue=queue)


def test_overloaded_service_answers_503_with_retry_after(
    make_settings: Callable[..., Settings],
) -> None:
    detector = FakeDetector()
    gate = detector.gate = threading.Event()
    app: FastAPI = create_app(make_settings(), FakeRegistry(detector))
    app.state.context = dataclasses.replace(app.state.context, admission=Admission(1, 0))

    async def main() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            files = {"image": ("a.png", encode())}
            results: dict[str, httpx.Response] = {}

            async def busy() -> None:
                results["busy"] = await client.post("/detect", files=files)

            async with anyio.create_task_group() as group:
                group.start_soon(busy)
                with anyio.fail_after(5):
                    while not detector.calls:  # the first request holds the only slot
                        await anyio.sleep(0.01)
                results["refused"] = await client.post("/detect", files=files)
                gate.set()
            return results["busy"], results["refused"]

    busy, refused = anyio.run(main)

    assert busy.status_code == 200
    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json"
    assert int(refused.headers["retry-after"]) >= 1
    assert len(detector.calls) == 1


class _Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    fake = _Clock()
    monkeypatch.setattr("service.api.admission.time.monotonic", fake)
    return fake


def _served_at_eight_per_second(admission: Admission, clock: _Clock) -> None:
    for _ in range(11):
        admission.finished()
        clock.now += 0.125  # exact in binary: no rounding at ceil


def test_retry_after_is_one_second_before_any_rate_is_known(clock: _Clock) -> None:
    refused = Admission(slots=2, queue=8).refusal(10)
    assert refused is not None and refused.retry_after_s == 1


def test_retry_after_is_the_time_the_full_line_takes_to_be_served(clock: _Clock) -> None:
    admission = Admission(slots=2, queue=8)  # a line of 10
    _served_at_eight_per_second(admission, clock)
    refused = admission.refusal(10)
    assert refused is not None
    assert refused.retry_after_s == 2  # (10 in line + this caller) at 8 a second: 1.4 s
    assert "retry in 2 s" in str(refused)


def test_the_more_callers_wait_out_a_retry_after_the_longer_each_is_asked_to_wait(
    clock: _Clock,
) -> None:
    admission = Admission(slots=2, queue=8)
    _served_at_eight_per_second(admission, clock)
    answers = [admission.refusal(10) for _ in range(40)]
    waits = [answer.retry_after_s for answer in answers if answer is not None]
    # the 40th: 40 callers coming back spread so that they are a tenth of the 8 served a second
    assert waits[0] == 2 and waits[-1] == 50
    assert waits == sorted(waits)
    clock.now += 1.0  # all 40 are still waiting
    later = admission.refusal(10)
    assert later is not None and later.retry_after_s == 52  # 41 / 0.8
    clock.now += 60.0  # every one of them has come back since
    quiet = admission.refusal(10)
    assert quiet is not None and quiet.retry_after_s == 2


def test_retry_after_is_capped_at_a_minute(clock: _Clock) -> None:
    admission = Admission(slots=1, queue=0)
    for _ in range(3):  # one answer every 100 s
        admission.finished()
        clock.now += 100.0
    refused = admission.refusal(1)
    assert refused is not None and refused.retry_after_s == 60


def test_the_answer_carries_the_errors_own_retry_after() -> None:
    response = problem_for_exception(OverloadedError("full", retry_after_s=7), "/detect")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "7"


def test_a_slot_counts_its_request_for_the_runtime() -> None:
    """The runtime's lone-run choice sees the requests admission holds (cpu_runs.REQUESTS)."""

    async def main() -> tuple[int, int, int]:
        admission = Admission(slots=1, queue=4)
        before = REQUESTS.held
        async with admission.slot():
            inside = REQUESTS.held
        return before, inside, REQUESTS.held

    before, inside, after = anyio.run(main)
    assert (inside, after) == (before + 1, before)
