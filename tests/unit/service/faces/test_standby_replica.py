"""A replica whose gallery database is a real PostgreSQL hot standby (``pg_basebackup -R``).

The standby refuses LISTEN and writes while in recovery but serves reads: the replica must be
ready, recognise and list what was enrolled through the primary (it arrives by the listener's
2 s poll, as notifications are not relayed to standbys), refuse its own writes with a 503, and
still report the database out of reach when the standby stops.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient

from service.api import create_app
from service.settings import Settings
from tests.support.postgres import hot_standby, postgres_server
from tests.unit.service.api.face_fakes import FakeEmbedder, FakeFaceDetector, solid
from tests.unit.service.api.fakes import FakeClassifier, FakeDetector, FakeRegistry
from tests.unit.service.api.test_gallery_unavailable import (
    GREEN,
    RED,
    assert_unavailable,
    enrol,
    eventually,
)
from tests.unit.service.faces.test_replication import wait_for

POLL_S = 2.0  # the listener's default poll period: how late a standby replica may learn a write


@contextmanager
def replica(url: str, folder: Path) -> Iterator[TestClient]:
    """A started app (lifespan run) whose gallery is the PostgreSQL database at ``url``."""
    settings = Settings(
        models_dir=folder, gallery_path=folder / "unused.sqlite3", gallery_url=url, api_key=None
    )
    registry = FakeRegistry(FakeDetector(), FakeClassifier(), FakeFaceDetector(), FakeEmbedder())
    with TestClient(create_app(settings, registry)) as client:
        yield client


def subjects(client: TestClient) -> list[str]:
    return [s["subject"] for s in client.get("/faces").json()["subjects"]]


def test_a_replica_on_a_hot_standby_is_ready_reads_and_refuses_writes(tmp_path: Path) -> None:
    with postgres_server() as primary:
        url = primary.create_database("gallery")
        with replica(url, tmp_path) as writer:
            eventually(writer, 200)
            assert enrol(writer, "ann", RED).status_code == 201
            with (
                hot_standby(primary) as standby,
                replica(standby.database_url("gallery"), tmp_path) as reader,
            ):
                eventually(reader, 200)
                assert subjects(reader) == ["ann"]
                recognised = reader.post("/recognize-face", files={"image": solid(RED)})
                assert recognised.status_code == 200, recognised.text
                assert [f["subject"] for f in recognised.json()["faces"]] == ["ann"]

                assert enrol(writer, "bob", GREEN).status_code == 201
                assert wait_for(lambda: subjects(reader) == ["ann", "bob"], POLL_S + 3)
                refused = enrol(reader, "carl", GREEN)
                assert_unavailable(refused, "application/problem+json")
                assert "read-only" in refused.json()["detail"]

                standby.stop()
                down = eventually(reader, 503)
                assert "database cannot be reached" in down.json()["detail"]
