"""GalleryListener: replicas' galleries kept in step through a real PostgreSQL server."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import numpy as np
import psycopg
import pytest

from service.faces import Gallery, NewFace
from service.faces.postgres_store import CHANNEL, PostgresFaceStore
from service.faces.replication import GalleryListener
from tests.support.postgres import PostgresServer, hot_standby, postgres, postgres_server

__all__ = ["postgres"]  # the module-scoped server fixture, used by name below

QUIET = 3600.0  # a poll period no test lasts: only notifications can make the listener sync


def face(seed: int, dim: int = 8) -> NewFace:
    vector = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return NewFace(vector / np.linalg.norm(vector), (0.0, 0.0, 10.0, 10.0))


def wait_for(condition: Callable[[], bool], within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


class CountingGallery:
    """A gallery stand-in that records when the listener asks it to sync."""

    def __init__(self, version: int = 0) -> None:
        self.version = version
        self.syncs = 0
        self.synced = threading.Event()

    def sync(self) -> int:
        self.syncs += 1
        self.synced.set()
        return self.version


@pytest.fixture
def url(postgres: PostgresServer) -> str:
    url = postgres.create_database(f"t{uuid.uuid4().hex[:12]}")
    PostgresFaceStore(url).close()
    return url


@pytest.fixture
def replicas(url: str) -> Iterator[tuple[Gallery, Gallery]]:
    """Two galleries on one database, as two replicas have; both loaded."""
    galleries = (Gallery(PostgresFaceStore(url)), Gallery(PostgresFaceStore(url)))
    for gallery in galleries:
        gallery.sync()
    yield galleries
    for gallery in galleries:
        gallery.close()


def started(listener: GalleryListener) -> GalleryListener:
    listener.start()
    assert wait_for(lambda: listener.connected, 10)
    return listener


def test_an_enrolment_reaches_another_replica_within_a_second(
    replicas: tuple[Gallery, Gallery], url: str
) -> None:
    a, b = replicas
    listener = started(GalleryListener(b, url, poll_s=QUIET))
    try:
        a.enrol("ann", "m", [face(1)])
        assert wait_for(lambda: "ann" in b.subjects(), within_s=1.0)
        (match,) = b.search("m", face(1).embedding[None, :], threshold=0.5, top_k=1)
        assert match.subject == "ann"
        a.delete_subject("ann")
        assert wait_for(lambda: "ann" not in b.subjects(), within_s=1.0)
    finally:
        listener.stop()


def test_a_notification_of_an_older_version_is_ignored(url: str) -> None:
    gallery = CountingGallery(version=10)
    listener = started(GalleryListener(gallery, url, poll_s=QUIET))
    try:
        assert wait_for(lambda: gallery.syncs == 1, 5)  # the catch-up after connecting
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("SELECT pg_notify(%s, '5')", (CHANNEL,))
            connection.execute("SELECT pg_notify(%s, '11')", (CHANNEL,))
        assert wait_for(lambda: gallery.syncs == 2, 5)
        time.sleep(0.3)  # room for a wrong extra sync to show
        assert gallery.syncs == 2
    finally:
        listener.stop()


def test_the_poll_syncs_without_notifications(url: str) -> None:
    gallery = CountingGallery()
    listener = started(GalleryListener(gallery, url, poll_s=0.1))
    try:
        assert wait_for(lambda: gallery.syncs >= 3, 10)
    finally:
        listener.stop()


def test_stop_ends_the_thread() -> None:
    listener = GalleryListener(CountingGallery(), "postgresql://nobody@127.0.0.1:1/none")
    listener.start()
    listener.stop()
    assert listener._thread is not None and not listener._thread.is_alive()
    assert listener.connected is False


def test_replicas_recover_from_a_database_restart_by_themselves() -> None:
    with postgres_server() as server:
        a = Gallery(PostgresFaceStore(server.url, timeout_s=1))
        b = Gallery(PostgresFaceStore(server.url, timeout_s=1))
        a.sync()
        b.sync()
        listener = started(GalleryListener(b, server.url, poll_s=QUIET, backoff_s=(0.05, 0.2)))
        try:
            a.enrol("ann", "m", [face(1)])
            server.stop()
            assert wait_for(lambda: not listener.connected, 10)
            server.start()
            assert wait_for(lambda: listener.connected, 10)
            a.enrol("bob", "m", [face(2)])  # A's pool reconnects on its own
            assert wait_for(lambda: set(b.subjects()) == {"ann", "bob"}, 5)
        finally:
            listener.stop()
            a.close()
            b.close()


def test_writes_missed_while_disconnected_are_caught_up_on_reconnect() -> None:
    with postgres_server() as server:
        a = Gallery(PostgresFaceStore(server.url, timeout_s=1))
        b = Gallery(PostgresFaceStore(server.url, timeout_s=1))
        a.sync()
        b.sync()
        listener = started(GalleryListener(b, server.url, poll_s=QUIET, backoff_s=(5.0, 5.0)))
        try:
            server.stop()
            assert wait_for(lambda: not listener.connected, 10)
            server.start()
            a.enrol("ann", "m", [face(1)])  # notified while b's listener waits to reconnect
            assert "ann" not in b.subjects()
            assert wait_for(lambda: "ann" in b.subjects(), 10)
        finally:
            listener.stop()
            a.close()
            b.close()


def test_a_hot_standby_is_followed_by_polling_until_promoted_then_by_notifications(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="service.faces.replication")
    with postgres_server() as primary:
        writer = Gallery(PostgresFaceStore(primary.url, timeout_s=1))
        writer.sync()  # creates the schema, which the standby then replays
        with hot_standby(primary) as standby:
            reader = Gallery(PostgresFaceStore(standby.url, timeout_s=1))
            reader.sync()
            listener = started(GalleryListener(reader, standby.url, poll_s=0.2))
            try:
                assert listener.standby  # LISTEN was refused, and yet it counts as connected
                writer.enrol("ann", "m", [face(1)])  # on the primary, replayed on the standby
                assert wait_for(lambda: "ann" in reader.subjects(), 5)
                assert listener.connected

                standby.promote()
                assert wait_for(lambda: not listener.standby, 5)
                listener.poll_s = QUIET  # from the poll after next on, only a NOTIFY syncs
                time.sleep(1.0)  # the poll scheduled with 0.2 s has passed
                other = Gallery(PostgresFaceStore(standby.url, timeout_s=1))
                other.sync()
                other.enrol("bob", "m", [face(2)])  # a write on the promoted standby
                assert wait_for(lambda: "bob" in reader.subjects(), 1.0)
                other.close()
            finally:
                listener.stop()
                reader.close()
        writer.close()
    said = [r.getMessage() for r in caplog.records if r.name == "service.faces.replication"]
    assert sum("hot standby" in line for line in said) == 1  # once, not at each of its polls
    assert sum("promoted" in line and "standby" not in line for line in said) == 1


def test_a_standby_out_of_reach_is_disconnected_and_followed_again_when_back() -> None:
    with postgres_server() as primary:
        writer = Gallery(PostgresFaceStore(primary.url, timeout_s=1))
        writer.sync()
        with hot_standby(primary) as standby:
            reader = Gallery(PostgresFaceStore(standby.url, timeout_s=1))
            reader.sync()
            listener = started(
                GalleryListener(reader, standby.url, poll_s=0.2, backoff_s=(0.05, 0.2))
            )
            try:
                standby.stop()
                assert wait_for(lambda: not listener.connected, 10)
                writer.enrol("ann", "m", [face(1)])  # while the standby is down
                standby.start()
                assert wait_for(lambda: listener.connected, 10)
                assert listener.standby
                assert wait_for(lambda: "ann" in reader.subjects(), 5)
            finally:
                listener.stop()
                reader.close()
        writer.close()
