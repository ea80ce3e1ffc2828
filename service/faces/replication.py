"""Keeping a replica's in-memory gallery in step with the PostgreSQL gallery that replicas share.

A dedicated connection LISTENs on the store's channel; each write's transaction NOTIFYs its new
gallery version, so another replica syncs within a round trip of the commit. Notifications can
be missed (the connection drops, the server restarts), so the listener also syncs after every
(re)connection and polls every ``poll_s``: a gap is caught up by ``changes_since``, a reset
by a full load — the gallery decides which. Connection failures are retried with a capped
exponential backoff; ``connected`` says whether the database is reachable now (readiness).

A hot standby (a replica pointed at a read-only copy of the database) refuses LISTEN while in
recovery (SQLSTATE 25006) and would never relay the primary's notifications anyway, yet serves
reads: there the listener stays connected and syncs by its poll alone (``standby``), asks at
each poll whether the server has been promoted, and LISTENs again once it has.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

import psycopg
from psycopg.errors import ReadOnlySqlTransaction

from service.faces.postgres_store import CHANNEL, Connection
from service.faces.store import GalleryError

log = logging.getLogger(__name__)

_TICK_S = 0.25  # how often the loop looks at the stop flag while waiting for notifications


class Syncable(Protocol):
    """What the listener needs of a gallery."""

    version: int

    def sync(self) -> int: ...


class GalleryListener:
    """A daemon thread that syncs ``gallery`` when the database at ``url`` announces a write."""

    def __init__(
        self,
        gallery: Syncable,
        url: str,
        *,
        poll_s: float = 2.0,
        backoff_s: tuple[float, float] = (0.25, 10.0),
        connect_timeout_s: int = 3,
    ) -> None:
        self.gallery = gallery
        self.url = url
        self.poll_s = poll_s
        self.backoff_s = backoff_s
        self.connect_timeout_s = connect_timeout_s
        self.connected = False  # the listener's connection is up: the database is reachable
        self.standby = False  # the database is in recovery: writes arrive by polling only
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="gallery-listener", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask the thread to end and wait for it (it notices within a tick or a connect)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        delay = self.backoff_s[0]
        while not self._stopping.is_set():
            try:
                self._listen()  # returns only when stopping
            except psycopg.Error as error:
                if self.connected:
                    delay = self.backoff_s[0]  # it was up a moment ago: try again soon
                if delay == self.backoff_s[0]:  # the first failure of a streak, not each retry
                    log.warning("gallery database out of reach, retrying: %s", error)
                self.connected = False
                self._stopping.wait(delay)
                delay = min(2 * delay, self.backoff_s[1])

    def _listen(self) -> None:
        """One connection's life: LISTEN, catch up, then sync on each newer version or poll
        (on a standby: at each poll)."""
        with psycopg.connect(
            self.url, autocommit=True, connect_timeout=self.connect_timeout_s
        ) as connection:
            self._subscribe(connection)
            if not self.connected:
                log.info("gallery database reachable: following gallery writes")
            self.connected = True
            self._sync()  # whatever was written while nobody listened
            next_poll = time.monotonic() + self.poll_s
            while not self._stopping.is_set():
                if self.standby:  # no notifications to wait for: sleep until the poll
                    self._stopping.wait(max(0.0, next_poll - time.monotonic()))
                else:
                    for note in connection.notifies(timeout=_TICK_S, stop_after=1):
                        if _version(note.payload) > self.gallery.version:
                            self._sync()
                if time.monotonic() >= next_poll:
                    self._check(connection)
                    self._sync()
                    next_poll = time.monotonic() + self.poll_s
        self.connected = False  # stopped

    def _subscribe(self, connection: Connection) -> None:
        """LISTEN, or note that the database is a standby in recovery, which refuses it."""
        try:
            connection.execute(f"LISTEN {CHANNEL}")
        except ReadOnlySqlTransaction:
            if not self.standby:  # once, not at each reconnection to the same standby
                log.warning(
                    "gallery database is a hot standby (LISTEN refused during recovery): "
                    "gallery writes arrive by polling every %.1f s until it is promoted",
                    self.poll_s,
                )
            self.standby = True
            return
        if self.standby:
            log.info("gallery database promoted: listening for gallery writes again")
        self.standby = False

    def _check(self, connection: Connection) -> None:
        """A silently dead connection shows here. A standby is asked whether it has been
        promoted rather than sent a LISTEN it refuses: one ERROR in its log per poll else."""
        if not self.standby:
            connection.execute("SELECT 1")
        elif connection.execute("SELECT pg_is_in_recovery()").fetchone() == (False,):
            self._subscribe(connection)

    def _sync(self) -> None:
        """Sync the gallery; a failure is logged and retried at the next poll, never fatal."""
        try:
            self.gallery.sync()
        except GalleryError as error:
            log.warning("gallery sync failed (retried in %.1f s): %s", self.poll_s, error)
        except Exception:
            log.exception("gallery sync failed (retried in %.1f s)", self.poll_s)


def _version(payload: str) -> int:
    """The version a notification announces; an unreadable one counts as newer than any."""
    try:
        return int(payload)
    except ValueError:
        return 1 << 62
