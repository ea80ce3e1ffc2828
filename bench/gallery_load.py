"""Start-up load of the face gallery: ``PostgresFaceStore.load()`` beside ``SqliteFaceStore.load()``.

The same synthetic faces (128-d unit vectors, 5 per subject) are put in a throwaway PostgreSQL
server (tests/support/postgres.py: Debian's binaries, loopback) and in a SQLite file; each
round loads both, who goes first alternating, and prints the times and the PostgreSQL/SQLite
ratio. The target is 1M faces from PostgreSQL in <= 10 s.

    .venv/bin/python bench/gallery_load.py [--faces 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psycopg
from rounds import rotated, spread  # bench/ is on sys.path when this file runs

from service.faces import NewFace, SqliteFaceStore
from service.faces.postgres_store import PostgresFaceStore

REPO_ROOT = Path(__file__).resolve().parent.parent

MODEL = "bench-embedder"


def faces(count: int, dim: int) -> tuple[np.ndarray, list[str]]:
    vectors = np.random.default_rng(0).standard_normal((count, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors, [f"subject {i // 5}" for i in range(count)]


def fill_postgres(store: PostgresFaceStore, vectors: np.ndarray, subjects: list[str]) -> None:
    """COPY the rows in (the bench measures loading, not a million enrolments)."""
    store.version()  # the schema
    now = time.time()
    with psycopg.connect(store.url) as connection:
        with connection.cursor().copy(
            "COPY faces (face_id, subject, model, dim, embedding, x1, y1, x2, y2, created_at, "
            "version) FROM STDIN"
        ) as copy:
            for vector, subject in zip(vectors, subjects, strict=True):
                copy.write_row(
                    (uuid.uuid4().hex, subject, MODEL, vector.size, vector.tobytes(), 0.0, 0.0,
                     10.0, 10.0, now, 1)
                )  # fmt: skip
        connection.execute("UPDATE gallery_meta SET version = 1")
    with psycopg.connect(store.url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE faces")


def fill_sqlite(store: SqliteFaceStore, vectors: np.ndarray, subjects: list[str]) -> None:
    batch = [NewFace(v, (0.0, 0.0, 10.0, 10.0)) for v in vectors]
    for start in range(0, len(batch), 5):  # one enrolment per subject, as clients do
        store.add(subjects[start], MODEL, batch[start : start + 5])


def timed(load: Callable[[], object]) -> float:
    start = time.perf_counter()
    loaded = load()
    elapsed = time.perf_counter() - start
    del loaded
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO_ROOT))  # the repository's tests package, not an installed one
    from tests.support.postgres import postgres_server

    vectors, subjects = faces(args.faces, args.dim)
    with postgres_server() as server, tempfile.TemporaryDirectory() as folder:
        postgres = PostgresFaceStore(server.url)
        sqlite = SqliteFaceStore(Path(folder) / "g.sqlite3", durable=False)
        started = time.perf_counter()
        fill_postgres(postgres, vectors, subjects)
        fill_sqlite(sqlite, vectors, subjects)
        print(f"filled {args.faces} faces x {args.dim}-d in {time.perf_counter() - started:.0f} s")
        loads = {"postgres": postgres.load, "sqlite": sqlite.load}
        ratios = []
        for index in range(args.rounds):
            times = {name: timed(loads[name]) for name in rotated(list(loads), index)}
            ratios.append(times["postgres"] / times["sqlite"])
            print(
                f"round {index + 1}: postgres {times['postgres']:.2f} s, "
                f"sqlite {times['sqlite']:.2f} s, ratio {ratios[-1]:.2f}"
            )
        print(f"postgres/sqlite load time: {spread(ratios)} (median, min-max)")
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        postgres.close()
        sqlite.close()


if __name__ == "__main__":
    main()
