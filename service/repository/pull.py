"""Fill a models directory from the catalog: fetch, verify size and sha256, then rename into place.

Each file is streamed into a hidden temporary file in its final folder and renamed over the
target only after its size and sha256 match the catalog, so a failed, corrupted or interrupted
fetch never leaves a partial file or an unverified ``model.onnx``. Files already present with
the right sha256 are not fetched again. A source is each file's catalog URL, or a mirror: a
directory or an http(s) base URL holding the files under their catalog file names.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TextIO
from urllib.parse import quote

import httpx

from service.repository.catalog import Catalog, CatalogFile, CatalogOrigin
from service.repository.derive import derive
from service.repository.errors import PullError
from service.repository.loader import CONFIG_FILE, LABELS_FILE

CHUNK = 1 << 20
DOWNLOADED = "downloaded"
DERIVED = "derived"
UP_TO_DATE = "up to date"
INSTALLED = "installed from the bundled repository"


class Progress(Protocol):
    """Receives progress of each file, labelled ``<model>/<file>``."""

    def update(self, label: str, done: int, total: int) -> None: ...

    def finish(self, label: str, message: str) -> None: ...


@dataclass(frozen=True)
class Pulled:
    """What happened to one file: ``downloaded``, ``up to date`` or installed from the bundle."""

    model: str
    path: Path
    outcome: str


def pull(
    catalog: Catalog,
    names: Sequence[str],
    models_dir: Path,
    source: str | None = None,
    progress: Progress | None = None,
    *,
    everything: bool = False,
) -> list[Pulled]:
    """Fetch the selected models' files (default set when ``names`` is empty).

    Every file is attempted; if any fails, PullError lists each failed file and why, after the
    others were saved. A file present under a wrong checksum is replaced, or removed when its
    replacement fails, so no unverified file stays behind. Without a mirror, a derived file
    (``derive`` + ``from`` in the catalog) is made from its checked original.
    """
    report = progress or _Silent()
    selected = catalog.select(names, everything=everything)
    done: list[Pulled] = []
    failures: list[str] = []
    with httpx.Client(follow_redirects=True, timeout=60.0) as http:
        for name in selected:
            folder = models_dir / name
            done += _install_bundled(catalog, name, folder, report)
            for entry in catalog.models[name].files:
                target = folder / entry.save_as
                label = f"{name}/{entry.save_as}"
                if _is_current(target, entry):
                    report.finish(label, UP_TO_DATE)
                    done.append(Pulled(name, target, UP_TO_DATE))
                    continue
                try:
                    if entry.origin is not None and source is None:
                        _derive(entry, target, http, report, label)
                        outcome = DERIVED
                    else:
                        _fetch(_locate(entry, source, label), entry, target, http, report, label)
                        outcome = DOWNLOADED
                except PullError as exc:
                    failures.append(f"{exc}{_remove_stale(target)}")
                    report.finish(label, "FAILED")
                    continue
                report.finish(label, outcome)
                done.append(Pulled(name, target, outcome))
    if failures:
        raise PullError("\n".join(failures))
    return done


def _locate(entry: CatalogFile, source: str | None, label: str) -> str:
    """Where to read ``entry`` from: its URL, or its file name under a mirror."""
    if source is None:
        if entry.url is None:
            raise PullError(
                f"{label}: the catalog has no source URL for {entry.file} (a derived file); "
                "pass --from with a mirror directory or URL that holds it"
            )
        return entry.url
    if source.startswith(("http://", "https://")):
        return f"{source.rstrip('/')}/{quote(entry.file)}"
    return str(Path(source) / entry.file)


def _chunks(location: str, http: httpx.Client) -> Iterator[bytes]:
    if location.startswith(("http://", "https://")):
        with http.stream("GET", location) as response:
            response.raise_for_status()
            yield from response.iter_bytes(CHUNK)
    else:
        with open(location, "rb") as stream:
            while chunk := stream.read(CHUNK):
                yield chunk


def _derive(
    entry: CatalogFile, target: Path, http: httpx.Client, report: Progress, label: str
) -> None:
    """Fetch and check ``entry``'s original beside ``target`` (hidden), apply the recipe, and
    keep the result only if it has ``entry``'s size and sha256."""
    assert entry.origin is not None and entry.derive is not None
    origin = target.parent / f".{entry.origin.file}.origin"
    try:
        _fetch(
            entry.origin.url, entry.origin, origin, http, report, f"{label} <- {origin.name[1:]}"
        )
        derived = derive(entry.derive, origin.read_bytes())
    except (OSError, ValueError) as exc:  # onnx's parse errors are ValueErrors
        raise PullError(f"{label}: deriving from {entry.origin.url} failed: {exc}") from exc
    finally:
        origin.unlink(missing_ok=True)
    _check(len(derived), hashlib.sha256(derived).hexdigest(), entry, label, "the derived file")
    report.update(label, len(derived), entry.size)
    handle, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".part"
    )
    partial = Path(temporary)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(derived)
            out.flush()
            os.fsync(out.fileno())
        partial.chmod(0o644)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _check(
    size: int, digest: str, entry: CatalogFile | CatalogOrigin, label: str, what: str
) -> None:
    """PullError unless ``size`` and ``digest`` are the catalog's for ``entry``."""
    if size != entry.size:
        raise PullError(
            f"{label}: {what} gave {size} bytes, the catalog says {entry.size} "
            "(interrupted, or another file); nothing was kept"
        )
    if digest != entry.sha256:
        raise PullError(
            f"{label}: sha256 of {what} is {digest}, the catalog says "
            f"{entry.sha256} (corrupted, or another file); nothing was kept"
        )


def _fetch(
    location: str,
    entry: CatalogFile | CatalogOrigin,
    target: Path,
    http: httpx.Client,
    report: Progress,
    label: str,
) -> None:
    """Stream ``location`` into a temporary file beside ``target``; rename it only if verified."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".part"
    )
    partial = Path(temporary)
    try:
        digest = hashlib.sha256()
        size = 0
        with os.fdopen(handle, "wb") as out:
            for chunk in _chunks(location, http):
                size += len(chunk)
                if size > entry.size:
                    raise PullError(
                        f"{label}: {location} is larger than the catalog's {entry.size} bytes; "
                        "nothing was kept"
                    )
                digest.update(chunk)
                out.write(chunk)
                report.update(label, size, entry.size)
            out.flush()
            os.fsync(out.fileno())
        _check(size, digest.hexdigest(), entry, label, location)
        partial.chmod(0o644)
        os.replace(partial, target)
    except httpx.HTTPStatusError as exc:
        status = f"{exc.response.status_code} {exc.response.reason_phrase}"
        raise PullError(f"{label}: {location} answered HTTP {status}; nothing was kept") from exc
    except (httpx.HTTPError, OSError) as exc:
        raise PullError(f"{label}: fetching {location} failed: {exc}; nothing was kept") from exc
    finally:
        partial.unlink(missing_ok=True)


def _is_current(target: Path, entry: CatalogFile) -> bool:
    return (
        target.is_file() and target.stat().st_size == entry.size and _sha256(target) == entry.sha256
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _remove_stale(target: Path) -> str:
    """A file left under ``target`` failed its checksum before this pull: it must not be served."""
    if not target.exists():
        return ""
    target.unlink()
    return f"; removed {target}, which did not match the catalog either"


def _install_bundled(catalog: Catalog, name: str, folder: Path, report: Progress) -> list[Pulled]:
    """Copy the bundled model.toml / labels.txt into another models directory, keeping edits."""
    bundled = catalog.path.parent / name
    if not bundled.is_dir() or bundled.resolve() == folder.resolve():
        return []
    installed = []
    for file_name in (CONFIG_FILE, LABELS_FILE):
        source, target = bundled / file_name, folder / file_name
        if source.is_file() and not target.exists():
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            report.finish(f"{name}/{file_name}", INSTALLED)
            installed.append(Pulled(name, target, INSTALLED))
    return installed


class _Silent:
    def update(self, label: str, done: int, total: int) -> None:
        pass

    def finish(self, label: str, message: str) -> None:
        pass


BAR_WIDTH = 24


class TextProgress:
    """Progress on a text stream (stderr): a live bar per file on a terminal (every size is
    known from the catalog); elsewhere (CI, ``docker build``) one line per file, no noise."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self._stream = stream
        self._live = stream.isatty()
        self._shown: tuple[str, int] | None = None
        self._sizes: dict[str, int] = {}

    def update(self, label: str, done: int, total: int) -> None:
        self._sizes[label] = total
        percent = 100 * done // total
        if self._live and self._shown != (label, percent):
            self._shown = (label, percent)
            self._stream.write(f"\r{label} {progress_bar(done, total)}")
            self._stream.flush()

    def finish(self, label: str, message: str) -> None:
        prefix = "\r\033[K" if self._live else ""
        size = self._sizes.get(label)
        shown = f" ({size / 1e6:.1f} MB)" if size and message != UP_TO_DATE else ""
        self._stream.write(f"{prefix}{label}: {message}{shown}\n")
        self._stream.flush()
        self._shown = None


def progress_bar(done: int, total: int) -> str:
    """``[#########...............]  38% 14.7/38.7 MB``."""
    filled = BAR_WIDTH * done // total
    bar = "#" * filled + "." * (BAR_WIDTH - filled)
    return f"[{bar}] {100 * done // total:3d}% {done / 1e6:.1f}/{total / 1e6:.1f} MB"


def summary(pulled: Sequence[Pulled], models_dir: Path) -> str:
    """One line after a pull: models, files by outcome, bytes now in place."""
    outcomes = Counter(p.outcome for p in pulled)
    counts = ", ".join(f"{n} {outcome}" for outcome, n in outcomes.items())
    size = sum(p.path.stat().st_size for p in pulled if p.path.is_file())
    models = len({p.model for p in pulled})
    return (
        f"done: {models} model(s), {len(pulled)} file(s) ({counts or 'nothing to do'}), "
        f"{size / 1e6:.1f} MB in {models_dir}"
    )
