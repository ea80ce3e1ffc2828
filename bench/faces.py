"""Benchmark and calibration for the face routes.

1. Similarity distributions, the evidence behind the default threshold: the default detector
   (largest face) and embedder on every single-person photo of ``shared/images`` plus the six
   faces of ``insightface_t1.jpg``, each also in altered copies (flip, brightness 0.7 / 1.35,
   rotation ±8°, JPEG quality 30, half size). Pairs of the same person in different photos,
   of one photo and its altered copy, and of different people; for each threshold the false
   accepts and false rejects.
2. ``/recognize-face`` against galleries of 1,000 and 100,000 synthetic 128-d embeddings: the
   search alone (``Gallery.search``) and the whole request through a real uvicorn process.

    .venv/bin/python bench/faces.py [--requests N]

Shared data: ``$VISION_SHARED_DIR``, else ``shared/`` beside the repository.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageEnhance, ImageOps

from service.faces import FaceStore, Gallery, NewFace, SqliteFaceStore
from service.pipelines.detector import FaceDetector
from service.pipelines.embedder import FaceEmbedder
from service.pipelines.faces import FaceAnalyzer
from service.pipelines.images import decode_image
from service.pipelines.registry import ModelRegistry
from service.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
IDENTITIES = {  # shared/images/README.md: who is in which single-person photo
    "obama": ["fr_obama1.jpg", "fr_obama2.jpg", "fr_obama3.jpg", "fr_obama4.jpg"],
    "biden": ["fr_biden1.jpg", "fr_biden2.jpg"],
    "kit harington": ["fr_kit_harington1.jpg", "fr_kit_harington2.jpg"],
    "rose leslie": ["fr_rose_leslie1.jpg", "fr_rose_leslie2.jpg"],
    "eileen collins": ["astronaut.jpg"],
}
GROUP = "insightface_t1.jpg"  # six different people, none of them above
ALTERATIONS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "flip": ImageOps.mirror,
    "darker": lambda image: ImageEnhance.Brightness(image).enhance(0.7),
    "brighter": lambda image: ImageEnhance.Brightness(image).enhance(1.35),
    "rot+8": lambda image: image.rotate(8, resample=Image.Resampling.BILINEAR, expand=True),
    "rot-8": lambda image: image.rotate(-8, resample=Image.Resampling.BILINEAR, expand=True),
    "jpeg30": lambda image: Image.open(io.BytesIO(_jpeg(image, 30))),
    "half": lambda image: image.resize((image.width // 2, image.height // 2)),
}
THRESHOLDS = (0.25, 0.30, 0.363, 0.40, 0.45, 0.50, 0.60)


def shared_dir() -> Path:
    return Path(os.environ.get("VISION_SHARED_DIR", REPO_ROOT.parent / "shared"))


def _jpeg(image: Image.Image, quality: int = 95) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


# -- 1. calibration ------------------------------------------------------------------------


Sample = tuple[str, str, str, NDArray[np.float32]]  # identity, photo, alteration, embedding


def embeddings(analyzer: FaceAnalyzer, images: Path) -> list[Sample]:
    """The largest face of every photo and altered copy (for the group: each face, by box)."""
    samples: list[Sample] = []
    for identity, photos in IDENTITIES.items():
        for photo in photos:
            original = Image.open(images / photo).convert("RGB")
            for name, image in [("original", original)] + [
                (n, alter(original)) for n, alter in ALTERATIONS.items()
            ]:
                pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)
                faces = analyzer.faces(pixels, largest_only=True).faces
                if faces:
                    samples.append((identity, photo, name, faces[0].embedding))
    group = decode_image((images / GROUP).read_bytes(), max_pixels=10**8).pixels
    for i, face in enumerate(analyzer.faces(group).faces):
        samples.append((f"t1 person {i}", GROUP, "original", face.embedding))
    return samples


def calibration(samples: list[Sample]) -> None:
    genuine_photos, genuine_altered, impostor = [], [], []
    for (id_a, photo_a, alt_a, a), (id_b, photo_b, alt_b, b) in itertools.combinations(samples, 2):
        similarity = float(a @ b)
        if id_a != id_b:
            if alt_a == alt_b == "original":
                impostor.append(similarity)
        elif photo_a == photo_b and "original" in (alt_a, alt_b):
            genuine_altered.append(similarity)
        elif photo_a != photo_b and alt_a == alt_b == "original":
            genuine_photos.append(similarity)
    print(f"{len(samples)} face embeddings ({len({s[0] for s in samples})} people)\n")
    print(f"{'pairs':38} {'n':>5} {'min':>7} {'p5':>7} {'median':>7} {'p95':>7} {'max':>7}")
    for label, values in [
        ("same person, different photos", genuine_photos),
        ("same photo, original vs altered copy", genuine_altered),
        ("different people", impostor),
    ]:
        v = np.asarray(values)
        print(
            f"{label:38} {len(v):5d} {v.min():7.3f} {np.percentile(v, 5):7.3f} "
            f"{np.median(v):7.3f} {np.percentile(v, 95):7.3f} {v.max():7.3f}"
        )
    print(
        f"\n{'threshold':>9} {'false accepts':>14} {'false rejects (photos)':>23} {'(altered)':>10}"
    )
    for tau in THRESHOLDS:
        fa = sum(s >= tau for s in impostor)
        fr_photos = sum(s < tau for s in genuine_photos)
        fr_altered = sum(s < tau for s in genuine_altered)
        print(
            f"{tau:9.3f} {fa:>7}/{len(impostor):<6} {fr_photos:>12}/{len(genuine_photos):<10} "
            f"{fr_altered:>4}/{len(genuine_altered):<5}"
        )


# -- 2. recognition against large galleries --------------------------------------------------


def synthetic_vectors(size: int, dim: int) -> NDArray[np.float32]:
    """``size`` random unit embeddings, the same for the same arguments (seeded)."""
    vectors = np.random.default_rng(0).standard_normal((size, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def synthetic_gallery(path: Path, model: str, size: int, dim: int) -> None:
    """:func:`synthetic_vectors`, 5 per subject, written through the real store."""
    store = SqliteFaceStore(path, durable=False)  # a bulk import: no fsync per subject
    fill_store(store, model, synthetic_vectors(size, dim), workers=1)
    store.close()


def fill_store(store: FaceStore, model: str, vectors: NDArray[np.float32], workers: int) -> None:
    """Enrol subject ``synthetic i`` with faces 5i..5i+4, one ``add`` (transaction) each."""

    def enrol(start: int) -> None:
        faces = [NewFace(v, (0.0, 0.0, 1.0, 1.0)) for v in vectors[start : start + 5]]
        store.add(f"synthetic {start // 5}", model, faces)

    with ThreadPoolExecutor(workers) as pool:
        for _ in pool.map(enrol, range(0, len(vectors), 5)):
            pass


def median_ms(call: Callable[[], object], repeats: int) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000.0)
    return float(np.median(times)), float(np.percentile(times, 95))


@contextlib.contextmanager
def server(models_dir: Path, gallery: Path, log: Path) -> Iterator[str]:
    with contextlib.closing(__import__("socket").socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "VISION_GALLERY_PATH": str(gallery)}
    command = [sys.executable, "-m", "service", "serve", "--port", str(port)]
    command += ["--models-dir", str(models_dir)]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/health/ready").status_code == 200:
                    break
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def recognition(
    analyzer: FaceAnalyzer, images: Path, models_dir: Path, tmp: Path, requests: int
) -> None:
    photo = (images / "fr_obama4.jpg").read_bytes()
    pixels = decode_image(photo, max_pixels=10**8).pixels
    (face,) = analyzer.faces(pixels, largest_only=True).faces
    query = face.embedding[None]
    model = analyzer.embedder.info.name
    files = {"image": ("o.jpg", photo, "image/jpeg")}
    print(f"\n/recognize-face of fr_obama4.jpg (1 face), {requests} requests per row")
    print(f"{'gallery':>9} {'search median ms':>17} {'p95':>6} {'HTTP median ms':>15} {'p95':>6}")
    for size in (1_000, 100_000):
        path = tmp / f"gallery-{size}.sqlite3"
        synthetic_gallery(path, model, size, query.shape[1])
        gallery = Gallery(SqliteFaceStore(path))
        gallery.sync()
        search = median_ms(
            functools.partial(gallery.search, model, query, threshold=0.363, top_k=3), requests
        )
        gallery.close()
        with server(models_dir, path, tmp / f"server-{size}.log") as url, httpx.Client() as http:

            def post(url: str = url, http: httpx.Client = http) -> httpx.Response:
                return http.post(f"{url}/recognize-face", files=files).raise_for_status()

            best = post().json()["faces"][0]["similarity"]
            served = median_ms(post, requests)
        print(
            f"{size:9,d} {search[0]:17.2f} {search[1]:6.2f} {served[0]:15.2f} {served[1]:6.2f}"
            f"   best synthetic similarity {best:.3f}"
        )


# -- 3. a million faces per replica ---------------------------------------------------------

SCALE_DIM, SCALE_MODEL, SCALE_TOP_K = 128, "synthetic-128d", 3


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def scale_queries(vectors: NDArray[np.float32], count: int) -> NDArray[np.float32]:
    """Noisy copies of enrolled faces (the answer is known: face i is subject i // 5)."""
    rng = np.random.default_rng(1)
    picks = rng.choice(len(vectors), count, replace=False)
    noisy = vectors[picks] + rng.standard_normal((count, vectors.shape[1]), dtype=np.float32) * 0.06
    queries: NDArray[np.float32] = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
    return queries


def f16_search(matrix: NDArray[np.float16], query: NDArray[np.float32]) -> NDArray[np.float32]:
    """Cosines over float16 rows, converted to float32 a cache-sized block at a time."""
    out = np.empty(len(matrix), dtype=np.float32)
    for start in range(0, len(matrix), 16_384):
        block = matrix[start : start + 16_384].astype(np.float32)
        out[start : start + len(block)] = block @ query
    return out


def scale_child(backend: str, location: str, size: int, rounds: int, reps: int) -> None:
    """One configuration in a fresh process: load, RSS, then alternating timed rounds."""
    import faiss  # dev-only comparison: pip install faiss-cpu into the venv

    base = rss_bytes()
    store: FaceStore
    if backend == "sqlite":
        store = SqliteFaceStore(Path(location))
    else:
        from service.faces.postgres_store import PostgresFaceStore

        store = PostgresFaceStore(location)
    gallery = Gallery(store)
    start = time.perf_counter()
    gallery.sync()
    load_s = time.perf_counter() - start
    per_face = (rss_bytes() - base) / size
    vectors = synthetic_vectors(size, SCALE_DIM)
    queries = scale_queries(vectors, 16)
    before = rss_bytes()
    flat = faiss.IndexFlatIP(SCALE_DIM)
    flat.add(vectors)
    flat_per_face, before = (rss_bytes() - before) / size, rss_bytes()
    sq16 = faiss.IndexScalarQuantizer(
        SCALE_DIM, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
    )
    sq16.train(vectors)
    sq16.add(vectors)
    sq16_per_face = (rss_bytes() - before) / size
    half = vectors.astype(np.float16)
    contenders: dict[str, Callable[[NDArray[np.float32]], object]] = {
        "ours": lambda q: gallery.search(SCALE_MODEL, q, threshold=0.363, top_k=SCALE_TOP_K),
        "faiss-flat": lambda q: flat.search(q, 16),
        "faiss-sq-fp16": lambda q: sq16.search(q, 16),
        "numpy-fp16": lambda q: f16_search(half, q[0]),
    }
    times: dict[str, list[list[float]]] = {name: [] for name in contenders}
    for _ in range(rounds):  # alternate: each round times every contender on the same queries
        for name, search in contenders.items():
            samples = []
            for i in range(reps if name != "numpy-fp16" else max(1, reps // 5)):  # 10x slower
                query = queries[i % len(queries)][None]
                began = time.perf_counter()
                search(query)
                samples.append((time.perf_counter() - began) * 1000.0)
            times[name].append(samples)
    agree = sum(
        gallery.search(SCALE_MODEL, q[None], threshold=0.0, top_k=1)[0].subject
        == f"synthetic {int(flat.search(q[None], 1)[1][0, 0]) // 5}"
        for q in queries
    )
    exact = vectors @ queries.T
    f16_error = max(
        float(np.abs(f16_search(half, q) - exact[:, i]).max()) for i, q in enumerate(queries)
    )
    sq_sims = sq16.search(queries, 1)[0][:, 0]
    sq_error = float(np.abs(sq_sims - exact.max(axis=0)).max())
    print(
        json.dumps(
            {
                "load_s": load_s,
                "bytes_per_face": per_face,
                "agree": agree,
                "queries": len(queries),
                "f16_max_error": f16_error,
                "faiss_bytes_per_face": {
                    "faiss-flat": flat_per_face,
                    "faiss-sq-fp16": sq16_per_face,
                },
                "sq16_top1_error": sq_error,
                "times": times,
            }
        )
    )


def scale_report(label: str, result: dict[str, object]) -> None:
    times: dict[str, list[list[float]]] = result["times"]  # type: ignore[assignment]
    p50 = {name: [float(np.median(r)) for r in rounds] for name, rounds in times.items()}
    ours = np.asarray(p50["ours"])
    print(
        f"{label}: start-up load {result['load_s']:.1f} s, {result['bytes_per_face']:.0f} B "
        f"resident per face, top-1 subject = FAISS's for {result['agree']}/{result['queries']}"
    )
    for name, values in p50.items():
        if name == "ours":
            print(f"    {name:14} p50 {np.median(np.concatenate(times[name])):7.2f} ms   "
                  f"per-round p50 {min(values):6.2f}-{max(values):6.2f} ms")  # fmt: skip
            continue
        ratio = ours / np.asarray(values)
        print(
            f"    {name:14} p50 {np.median(np.concatenate(times[name])):7.2f} ms   "
            f"per-round p50 {min(values):6.2f}-{max(values):6.2f} ms   "
            f"ours/{name} {np.median(ratio):.2f} (rounds {ratio.min():.2f}-{ratio.max():.2f})"
        )
    index_bytes: dict[str, float] = result["faiss_bytes_per_face"]  # type: ignore[assignment]
    print(
        "    FAISS index alone: " + ", ".join(f"{k} {v:.0f} B/face" for k, v in index_bytes.items())
    )
    print(
        f"    float16 cosine error max {result['f16_max_error']:.1e}; "
        f"FAISS SQfp16 top-1 error max {result['sq16_top1_error']:.1e}"
    )


def build_scale_gallery(backend: str, location: str, size: int) -> None:
    started = time.perf_counter()
    vectors = synthetic_vectors(size, SCALE_DIM)
    if backend == "sqlite":
        store: FaceStore = SqliteFaceStore(Path(location), durable=False)
        fill_store(store, SCALE_MODEL, vectors, workers=1)
    else:
        from service.faces.postgres_store import PostgresFaceStore

        store = PostgresFaceStore(location, pool_size=4)
        fill_store(store, SCALE_MODEL, vectors, workers=4)
    store.close()
    print(f"built {backend} gallery of {size:,d} faces in {time.perf_counter() - started:.0f} s")


@contextlib.contextmanager
def postgres_urls(given: str | None, wanted: bool) -> Iterator[Callable[[str], str] | None]:
    """A fresh database per gallery size: on ``--postgres-url``'s server (the URL's database
    is used for one size only) or on a throwaway local server, when one can be started."""
    if not wanted:
        yield None
        return
    if given:
        yield lambda _name: given
        return
    sys.path.insert(0, str(REPO_ROOT))  # the repository's tests package, not an installed one
    try:
        from tests.support.postgres import postgres_server

        with postgres_server() as server:
            if not server.running:
                server.start()
            yield server.create_database
    except BaseException as error:  # pytest's Skipped when no PostgreSQL can be had
        if type(error).__name__ != "Skipped":
            raise
        print(f"PostgreSQL backend skipped: {error}")
        yield None


def scale(tmp: Path, kinds: list[str], sizes: list[int], threads: list[int], rounds: int,
          reps: int, postgres_url: str | None) -> None:  # fmt: skip
    print(f"\n{SCALE_DIM}-d, 5 faces per subject, top_k {SCALE_TOP_K}; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")  # fmt: skip
    with postgres_urls(postgres_url, "postgresql" in kinds) as postgres:
        backends: list[tuple[str, Callable[[int], str]]] = []
        if "sqlite" in kinds:
            backends.append(("sqlite", lambda size: str(tmp / f"scale-{size}.sqlite3")))
        if postgres is not None:
            backends.append(("postgresql", lambda size: postgres(f"scale{size}")))
        for backend, locate in backends:
            for size in sizes:
                location = locate(size)
                build_scale_gallery(backend, location, size)
                for count in threads:
                    env = {**os.environ, "OMP_NUM_THREADS": str(count),
                           "OPENBLAS_NUM_THREADS": str(count), "MKL_NUM_THREADS": str(count)}  # fmt: skip
                    command = [sys.executable, __file__, "--scale-child", backend, location,
                               str(size), str(rounds), str(reps)]  # fmt: skip
                    out = subprocess.run(
                        command, env=env, check=True, capture_output=True, text=True
                    )
                    label = f"{backend} {size:,d} faces, {count} BLAS/OpenMP thread(s)"
                    scale_report(label, json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--scale", action="store_true", help="only part 3, large galleries")
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--threads", default="1,2", help="BLAS/OpenMP threads, a run each")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reps", type=int, default=20, help="searches per round")
    parser.add_argument("--postgres-url", help="else a throwaway local server, if possible")
    parser.add_argument("--scale-child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scale_child:
        backend, location, size, rounds, reps = args.scale_child
        scale_child(backend, location, int(size), int(rounds), int(reps))
        return 0
    if args.scale:
        with tempfile.TemporaryDirectory(prefix="bench-faces-") as tmp_name:
            scale(
                Path(tmp_name),
                args.backends.split(","),
                [int(n) for n in args.sizes.split(",")],
                [int(n) for n in args.threads.split(",")],
                args.rounds,
                args.reps,
                args.postgres_url,
            )
        return 0
    shared = shared_dir()
    if not (shared / "models").is_dir():
        print(f"shared data not found under {shared} (set VISION_SHARED_DIR)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-faces-") as tmp_name:
        tmp = Path(tmp_name)
        models_dir = tmp / "models"
        pull = [sys.executable, "-m", "service", "pull", "--from", str(shared / "models")]
        subprocess.run([*pull, "--models-dir", str(models_dir)], check=True, capture_output=True)
        registry = ModelRegistry(Settings(models_dir=models_dir))
        registry.load_all()
        detector, embedder = registry.get(FaceDetector), registry.get(FaceEmbedder)
        analyzer = FaceAnalyzer(detector, embedder)
        print(f"detector {detector.info.name}, embedder {embedder.info.name}, "
              f"configured threshold {embedder.threshold}\n")  # fmt: skip
        calibration(embeddings(analyzer, shared / "images"))
        recognition(analyzer, shared / "images", models_dir, tmp, args.requests)
    return 0


if __name__ == "__main__":
    sys.exit(main())
