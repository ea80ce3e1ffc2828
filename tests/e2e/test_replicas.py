"""Two replicas behind a real nginx, sharing a gallery in a real PostgreSQL (issue 19).

Every piece is a real process on loopback: a throwaway PostgreSQL cluster
(``tests/support/postgres.py``), two ``python -m service serve`` with the same
``VISION_GALLERY_URL``, and nginx in front of them running ``deploy/nginx`` as shipped (rendered
onto loopback by ``tests/e2e/deploy/nginx_config.py``), plus one header, ``X-Upstream``, saying
which replica answered (or the list nginx tried). Expectations
come from the stated consistency (a write on one replica is seen by searches on every replica
within ``PROPAGATION_S``) and from what the client was acknowledged, checked in the database
itself, not only in the replicas' own view.

Faults: PostgreSQL stopped under load, then restarted; ``kill -9`` of one replica mid-burst.
deploy/nginx resends an inference POST that the killed replica had taken to the other replica,
but never an enrolment: the dead replica may have committed it, and sending it again would enrol
the photos twice, so nginx answers 502 and leaves it to the client. That is the one loss allowed:
a 502 to ``POST /faces`` that was in flight at the kill (sent before the process was reaped,
answered after the signal was sent) and that nginx had routed to the killed replica. Every other
request must succeed, and the database must hold each such enrolment whole or not at all.
"""

from __future__ import annotations

import io
import itertools
import os
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
import psycopg
import pytest
from PIL import Image, ImageOps

from tests.e2e.conftest import LiveServer, StartServer, free_port
from tests.e2e.deploy import nginx_config
from tests.support.postgres import PostgresServer, hot_standby, postgres_server

PROBLEM = "application/problem+json"
UPSTREAM_HEADER = "X-Upstream"
PROPAGATION_S = 1.0  # the documented bound: a write is searchable on every replica within it
# A replica on a hot standby gets no NOTIFY (the standby refuses LISTEN): it learns writes by
# its listener's 2 s poll, after the standby has replayed them (loopback: milliseconds).
STANDBY_PROPAGATION_S = 2.0 + 1.0
RECOVERY_S = 20.0  # PostgreSQL back: both replicas serve the gallery again, without a restart
OUTAGE_S = 3.0  # how long PostgreSQL stays down under load
POLL_S = 0.05  # between two looks at a replica that is expected to change
BURST = 200
FACES_PER_ENROLMENT = 2  # one per uploaded image (Photos.enrolment); stored whole or not at all
LOAD_WORKERS = 6  # background clients while PostgreSQL is stopped
KILL_BURST, KILL_WORKERS = 90, 12  # the burst one replica is killed in, a third of the way
# 200 requests at once must queue, not be refused; one onnxruntime thread per replica: 2 cores.
REPLICA_SETTINGS = {"VISION_MAX_QUEUE": "256", "VISION_INTRA_OP_THREADS": "1"}


@dataclass(frozen=True)
class Database:
    server: PostgresServer
    url: str

    def faces_per_subject(self, prefix: str) -> dict[str, int]:
        """Stored faces of each subject starting with ``prefix``, read from PostgreSQL itself."""
        with psycopg.connect(self.url) as connection:
            rows = connection.execute(
                "SELECT subject, count(*) FROM faces WHERE starts_with(subject, %s) GROUP BY subject",
                (prefix,),
            ).fetchall()
        return {subject: count for subject, count in rows}


@dataclass(frozen=True)
class Cluster:
    database: Database
    replicas: tuple[LiveServer, LiveServer]
    balancer: str  # nginx's URL


@dataclass(frozen=True)
class Outcome:
    """One request as the client saw it; ``status`` 0 is a transport error."""

    kind: str
    subject: str | None
    started: float
    ended: float
    status: int
    upstream: str
    retry_after: str | None
    content_type: str


class Photos:
    """Face crops cut from a six-person group photo, and for each face the images of one
    enrolment (the crop and its mirror image), encoded once: the client stays cheap."""

    def __init__(self, crops: Sequence[Image.Image]) -> None:
        self._enrolments = [[jpeg(face), jpeg(ImageOps.mirror(face))] for face in crops]

    def enrolment(self, index: int) -> list[bytes]:
        return self._enrolments[index % len(self._enrolments)]

    def probe(self, index: int) -> bytes:
        return self._enrolments[index % len(self._enrolments)][0]


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def database() -> Iterator[Database]:
    nginx_config.nginx_binary()  # skip before starting anything when nginx cannot be had
    with postgres_server() as server:
        yield Database(server, server.create_database("replicas"))


@contextmanager
def balanced_replicas(
    start_server: StartServer, database: Database, root: Path
) -> Iterator[Cluster]:
    """Two replicas on one gallery database, nginx in front of them."""
    settings = {**REPLICA_SETTINGS, "VISION_GALLERY_URL": database.url}
    with (
        start_server(**settings) as a,
        start_server(**settings) as b,
        running_balancer([a, b], root / "nginx") as balancer,
    ):
        yield Cluster(database, (a, b), balancer)


@contextmanager
def running_balancer(replicas: Sequence[LiveServer], root: Path) -> Iterator[str]:
    """deploy/nginx in front of ``replicas``, answering with ``X-Upstream``; yields its URL."""
    port = free_port()
    config = nginx_config.render(root, [address(replica) for replica in replicas], port)
    proxy = root / "proxy.conf"
    header = rf"\1\n    add_header {UPSTREAM_HEADER} $upstream_addr always;"
    text, count = re.subn(r"(listen [^;]+;)", header, proxy.read_text())
    assert count == 1, "deploy/nginx/proxy.conf: expected one listen directive"
    proxy.write_text(text)
    with nginx_config.running(config, port):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def cluster(
    start_server: StartServer, database: Database, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    with balanced_replicas(start_server, database, tmp_path_factory.mktemp("cluster")) as running:
        yield running


@pytest.fixture(scope="module")
def photos(images_dir: Path, cluster: Cluster) -> Photos:
    """The six faces of shared/images/insightface_t1.jpg (README: six people, six faces), cut
    with a margin where a replica finds them: small uploads keep 200 requests cheap."""
    data = (images_dir / "insightface_t1.jpg").read_bytes()
    with httpx.Client(base_url=cluster.replicas[0].url, timeout=60.0) as client:
        found = client.post("/recognize-face", files={"image": ("t1.jpg", data, "image/jpeg")})
    assert found.status_code == 200, found.text
    group = Image.open(io.BytesIO(data)).convert("RGB")
    crops = []
    for face in found.json()["faces"]:
        box = face["box"]
        margin = 0.6 * max(box["x2"] - box["x1"], box["y2"] - box["y1"])
        left, top = int(box["x1"] - margin), int(box["y1"] - margin)
        crops.append(group.crop((left, top, int(box["x2"] + margin), int(box["y2"] + margin))))
    assert len(crops) == 6
    return Photos(crops)


def address(server: LiveServer) -> str:
    return server.url.removeprefix("http://")


# -- requests ---------------------------------------------------------------------------------


def send(client: httpx.Client, photos: Photos, kind: str, index: int, prefix: str) -> Outcome:
    """One request of ``kind``: enrol ``prefix``+index, recognise or detect a face crop."""
    subject = f"{prefix}{index:04d}" if kind == "enrol" else None
    started = time.monotonic()
    try:
        if kind == "enrol":
            parts = [
                ("image", (f"{i}.jpg", image, "image/jpeg"))
                for i, image in enumerate(photos.enrolment(index))
            ]
            response = client.post("/faces", data={"subject": subject}, files=parts)
        else:
            path = {"recognise": "/recognize-face", "detect": "/detect"}[kind]
            image = ("face.jpg", photos.probe(index), "image/jpeg")
            response = client.post(path, files={"image": image})
    except httpx.TransportError:
        return Outcome(kind, subject, started, time.monotonic(), 0, "", None, "")
    return Outcome(
        kind,
        subject,
        started,
        time.monotonic(),
        response.status_code,
        response.headers.get(UPSTREAM_HEADER, ""),
        response.headers.get("retry-after"),
        response.headers.get("content-type", ""),
    )


def burst(
    url: str,
    photos: Photos,
    kinds: Sequence[str],
    prefix: str,
    *,
    workers: int,
    during: Callable[[list[Outcome]], None] | None = None,
) -> list[Outcome]:
    """Send one request per kind, ``workers`` at a time; ``during`` runs alongside, seeing the
    outcomes as they come."""
    outcomes: list[Outcome] = []
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    with httpx.Client(base_url=url, timeout=120.0, limits=limits) as client:

        def one(job: tuple[int, str]) -> None:
            outcomes.append(send(client, photos, job[1], job[0], prefix))

        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(one, job) for job in enumerate(kinds)]
            if during is not None:
                during(outcomes)
            for future in futures:
                future.result()
    return outcomes


class Load:
    """Background clients sending enrol / recognise / detect through nginx until stopped."""

    KINDS = ("enrol", "recognise", "detect")

    def __init__(self, url: str, photos: Photos, prefix: str) -> None:
        self.outcomes: list[Outcome] = []
        self._url, self._photos, self._prefix = url, photos, prefix
        self._stop = threading.Event()
        self._counter = itertools.count()  # next() on it is atomic under the GIL
        self._threads = [threading.Thread(target=self._work) for _ in range(LOAD_WORKERS)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=180)

    def _work(self) -> None:
        with httpx.Client(base_url=self._url, timeout=120.0) as client:
            while not self._stop.is_set():
                index = next(self._counter)
                kind = self.KINDS[index % len(self.KINDS)]
                self.outcomes.append(send(client, self._photos, kind, index, self._prefix))


def acknowledged(outcomes: Sequence[Outcome]) -> set[str]:
    return {o.subject for o in outcomes if o.kind == "enrol" and o.status == 201 and o.subject}


def listed(server: LiveServer) -> dict[str, int]:
    """Faces per subject as the replica lists them (GET /faces)."""
    response = httpx.get(f"{server.url}/faces", timeout=60.0)
    assert response.status_code == 200, response.text
    return {entry["subject"]: len(entry["faces"]) for entry in response.json()["subjects"]}


def within(limit_s: float, condition: Callable[[], bool], patience_s: float = 10.0) -> float:
    """Seconds until ``condition`` first held, polled at once and then every ``POLL_S`` (the
    figure errs high by at most that); waits up to ``patience_s`` so that a miss says by how
    much. Fails when it never held."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > max(limit_s, patience_s):
            raise AssertionError(f"not within {max(limit_s, patience_s):.0f} s")
        time.sleep(POLL_S)
    return time.monotonic() - started


def subject_seen_by(server: LiveServer, photo: bytes) -> str | None:
    """The subject the replica recognises in a one-face photo (None: unknown)."""
    response = httpx.post(
        f"{server.url}/recognize-face",
        files={"image": ("probe.jpg", photo, "image/jpeg")},
        timeout=60.0,
    )
    assert response.status_code == 200, response.text
    faces = response.json()["faces"]
    assert len(faces) == 1, faces
    subject: str | None = faces[0]["subject"]
    return subject


def assert_whole_and_present(
    database: Database, replicas: Sequence[LiveServer], acked: set[str], prefix: str
) -> None:
    """Each acknowledged subject holds all its faces on every replica (within the propagation
    bound) and in PostgreSQL, and the database holds no enrolment in part."""
    expected = dict.fromkeys(acked, FACES_PER_ENROLMENT)

    def holds_them_all(replica: LiveServer) -> bool:
        return {s: n for s, n in listed(replica).items() if s in acked} == expected

    for replica in replicas:
        within(PROPAGATION_S, partial(holds_them_all, replica))
    stored = database.faces_per_subject(prefix)
    assert {s: stored.get(s) for s in acked} == expected
    in_part = {s: n for s, n in stored.items() if n != FACES_PER_ENROLMENT}
    assert in_part == {}, f"enrolments stored in part: {in_part}"


# -- the tests --------------------------------------------------------------------------------


def test_enrolled_through_one_replica_recognised_by_the_other_and_deleted_back(
    cluster: Cluster, images_dir: Path
) -> None:
    a, b = cluster.replicas
    enrolled = (images_dir / "fr_obama1.jpg").read_bytes()
    probe = (images_dir / "fr_obama4.jpg").read_bytes()  # README: the same man, another photo
    assert subject_seen_by(b, probe) is None

    response = enrol_photo(a, "replicated obama", enrolled)
    assert response.status_code == 201, response.text
    seen_after = within(PROPAGATION_S, lambda: subject_seen_by(b, probe) == "replicated obama")
    assert seen_after <= PROPAGATION_S

    assert httpx.delete(f"{b.url}/faces/replicated obama", timeout=60.0).status_code == 204
    gone_after = within(
        PROPAGATION_S,
        lambda: subject_seen_by(a, probe) is None and "replicated obama" not in listed(a),
    )
    assert gone_after <= PROPAGATION_S
    assert cluster.database.faces_per_subject("replicated obama") == {}


def test_a_replica_on_a_hot_standby_is_ready_and_sees_writes_by_polling(
    start_server: StartServer, cluster: Cluster, images_dir: Path
) -> None:
    """A third replica whose gallery URL is a streaming standby of the database (``pg_basebackup
    -R``), as a read-only replica set would be deployed: ready although LISTEN is refused there,
    it recognises what was enrolled through the primary, and refuses its own writes with 503."""
    enrolled = (images_dir / "fr_obama1.jpg").read_bytes()
    probe = (images_dir / "fr_obama4.jpg").read_bytes()
    database_name = cluster.database.url.rsplit("/", 1)[1]
    a = cluster.replicas[0]
    with (
        hot_standby(cluster.database.server) as standby,
        start_server(
            **REPLICA_SETTINGS, VISION_GALLERY_URL=standby.database_url(database_name)
        ) as reader,  # returns once /health/ready is 200
    ):
        response = enrol_photo(a, "standby obama", enrolled)
        assert response.status_code == 201, response.text
        seen_after = within(
            STANDBY_PROPAGATION_S, lambda: subject_seen_by(reader, probe) == "standby obama"
        )
        assert seen_after <= STANDBY_PROPAGATION_S

        refused = enrol_photo(reader, "standby write", enrolled)
        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"] == PROBLEM
        assert "read-only" in refused.json()["detail"]
        assert int(refused.headers["retry-after"]) > 0
        assert httpx.get(f"{reader.url}/health/ready", timeout=60.0).status_code == 200
    assert httpx.delete(f"{a.url}/faces/standby obama", timeout=60.0).status_code == 204
    assert cluster.database.faces_per_subject("standby") == {}


def test_200_concurrent_enrolments_and_recognitions_through_nginx(
    cluster: Cluster, photos: Photos
) -> None:
    kinds = ["enrol" if i % 2 == 0 else "recognise" for i in range(BURST)]
    outcomes = burst(cluster.balancer, photos, kinds, "burst-", workers=BURST)

    assert Counter((o.kind, o.status) for o in outcomes) == {
        ("enrol", 201): BURST // 2,
        ("recognise", 200): BURST // 2,
    }
    answered_by = {o.upstream for o in outcomes}
    assert answered_by == {address(r) for r in cluster.replicas}  # nginx spread them
    assert_whole_and_present(cluster.database, cluster.replicas, acknowledged(outcomes), "burst-")


def test_postgres_stopped_under_load_then_restarted(cluster: Cluster, photos: Photos) -> None:
    with Load(cluster.balancer, photos, "outage-") as load:
        time.sleep(1.0)
        cluster.database.server.stop("fast")
        down_at = time.monotonic()
        try:
            for i, replica in enumerate(cluster.replicas):
                within(RECOVERY_S, partial(readiness_is, replica, 503))
                assert probe_status(replica, "/health/live") == 200
                detect = httpx.post(
                    f"{replica.url}/detect",
                    files={"image": ("face.jpg", photos.probe(0), "image/jpeg")},
                    timeout=60.0,
                )
                assert detect.status_code == 200, detect.text
                enrol = send_direct_enrolment(replica, photos, f"outage-refused-{i}")
                assert enrol.status_code == 503, enrol.text
                assert enrol.headers["content-type"] == PROBLEM
                assert int(enrol.headers["retry-after"]) > 0
            time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))
        finally:
            cluster.database.server.start()
        for i, replica in enumerate(cluster.replicas):
            within(RECOVERY_S, partial(readiness_is, replica, 200))
            within(RECOVERY_S, partial(enrols, replica, photos, f"outage-after-{i}"))
        time.sleep(1.0)

    outcomes = load.outcomes
    failed = [o for o in outcomes if o.status not in (200, 201, 503)]
    assert failed == [], "only 503 may answer while PostgreSQL is down"
    refused = [o for o in outcomes if o.status == 503]
    assert refused, "the load never met the outage"
    assert {o.kind for o in refused} <= {"enrol", "recognise"}  # detection needs no database
    assert all(o.content_type == PROBLEM and o.retry_after for o in refused)
    acked = acknowledged(outcomes) | {f"outage-after-{i}" for i in range(len(cluster.replicas))}
    assert_whole_and_present(cluster.database, cluster.replicas, acked, "outage-")


def probe_status(server: LiveServer, path: str) -> int:
    return httpx.get(f"{server.url}{path}", timeout=10.0).status_code


def readiness_is(server: LiveServer, status: int) -> bool:
    return probe_status(server, "/health/ready") == status


def enrol_photo(server: LiveServer, subject: str, photo: bytes) -> httpx.Response:
    """``POST /faces`` of one JPEG for ``subject``, straight to ``server``."""
    return httpx.post(
        f"{server.url}/faces",
        data={"subject": subject},
        files={"image": ("photo.jpg", photo, "image/jpeg")},
        timeout=60.0,
    )


def enrols(server: LiveServer, photos: Photos, subject: str) -> bool:
    return send_direct_enrolment(server, photos, subject).status_code == 201


def send_direct_enrolment(server: LiveServer, photos: Photos, subject: str) -> httpx.Response:
    parts = [
        ("image", (f"{i}.jpg", image, "image/jpeg")) for i, image in enumerate(photos.enrolment(0))
    ]
    return httpx.post(f"{server.url}/faces", data={"subject": subject}, files=parts, timeout=60.0)


def test_kill_9_of_one_replica_mid_burst_nginx_routes_to_the_other(
    start_server: StartServer, database: Database, photos: Photos, tmp_path: Path
) -> None:
    kinds = ["enrol" if i % 3 != 2 else "recognise" for i in range(KILL_BURST)]
    killed: dict[str, float] = {}
    with balanced_replicas(start_server, database, tmp_path) as doomed:
        survivor, victim = doomed.replicas

        def kill_when_a_third_is_done(outcomes: list[Outcome]) -> None:
            within(60.0, lambda: len(outcomes) >= len(kinds) // 3)
            killed["signalled"] = time.monotonic()
            os.kill(victim.process.pid, signal.SIGKILL)
            victim.process.wait(timeout=10)
            killed["reaped"] = time.monotonic()

        outcomes = burst(
            doomed.balancer,
            photos,
            kinds,
            "kill-",
            workers=KILL_WORKERS,
            during=kill_when_a_third_is_done,
        )

        lost = [o for o in outcomes if o.status not in (200, 201)]
        in_flight_on_victim = [
            o
            for o in lost
            if o.status == 502
            and o.kind == "enrol"
            and o.started <= killed["reaped"]
            and o.ended >= killed["signalled"]
            and address(victim) in o.upstream
        ]
        assert lost == in_flight_on_victim
        assert len(lost) <= KILL_WORKERS  # at most one per client in flight
        after = [o for o in outcomes if o.started > killed["reaped"]]
        assert after and all(o.upstream.endswith(address(survivor)) for o in after)
        assert_whole_and_present(database, [survivor], acknowledged(outcomes), "kill-")
