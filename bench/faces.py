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
import io
import itertools
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageEnhance, ImageOps

from service.faces import Gallery, NewFace, SqliteFaceStore
from service.pipelines.detector import Detector
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


def synthetic_gallery(path: Path, model: str, size: int, dim: int) -> None:
    """``size`` random unit embeddings, 5 per subject, written through the real store."""
    rng = np.random.default_rng(0)
    store = SqliteFaceStore(path, durable=False)  # a bulk import: no fsync per subject
    vectors = rng.standard_normal((size, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for start in range(0, size, 5):
        faces = [NewFace(v, (0.0, 0.0, 1.0, 1.0)) for v in vectors[start : start + 5]]
        store.add(f"synthetic {start // 5}", model, faces)
    store.close()


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
        search = median_ms(
            lambda g=gallery: g.search(model, query, threshold=0.363, top_k=3), requests
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
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
        detector, embedder = registry.get("face-detect"), registry.get("face-embed")
        assert isinstance(detector, Detector) and isinstance(embedder, FaceEmbedder)
        analyzer = FaceAnalyzer(detector, embedder)
        print(f"detector {detector.info.name}, embedder {embedder.info.name}, "
              f"configured threshold {embedder.threshold}\n")  # fmt: skip
        calibration(embeddings(analyzer, shared / "images"))
        recognition(analyzer, shared / "images", models_dir, tmp, args.requests)
    return 0


if __name__ == "__main__":
    sys.exit(main())
