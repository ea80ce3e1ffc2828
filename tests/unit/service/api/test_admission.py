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
