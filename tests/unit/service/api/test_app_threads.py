"""The app takes its admission slots and its thread pool from the machine's ThreadPlan."""

from __future__ import annotations

from collections.abc import Callable

import anyio.to_thread
import pytest
from fastapi.testclient import TestClient

from service import threads


async def _pool_size() -> float:
    return anyio.to_thread.current_default_thread_limiter().total_tokens


@pytest.fixture(autouse=True)
def three_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "usable_cores", lambda: 3)


def test_slots_and_pool_follow_the_cores(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    assert client.app.state.context.admission.slots == 6  # type: ignore[attr-defined]
    assert client.portal.call(_pool_size) == 9  # type: ignore[union-attr]


def test_slots_and_pool_given_are_used(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_concurrency=5, thread_pool_size=7)
    assert client.app.state.context.admission.slots == 5  # type: ignore[attr-defined]
    assert client.portal.call(_pool_size) == 7  # type: ignore[union-attr]
