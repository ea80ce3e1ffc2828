"""Command line: ``python -m service pull|serve``.

``pull`` fills the model repository from the catalog; ``serve`` runs the HTTP service
(``service.api.serve``). Defaults come from the ``VISION_*`` settings: ``VISION_MODELS_DIR``
for ``--models-dir`` and ``VISION_MODELS_SOURCE`` for ``--from``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from service.gallery_cli import add_gallery_command
from service.repository.catalog import CATALOG_FILE, Catalog, bundled_catalog_path, load_catalog
from service.repository.errors import RepositoryError
from service.repository.pull import TextProgress, pull, summary
from service.runtime.errors import ProviderUnavailableError
from service.runtime.malloc_arenas import cap_malloc_arenas
from service.settings import Settings


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; the exit status is 0 on success, 1 on a refused pull, 2 on misuse,
    3 when ``serve`` is told to require a GPU and none is usable."""
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except RepositoryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    settings = Settings()
    parser = argparse.ArgumentParser(prog="python -m service", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    pull_cmd = commands.add_parser(
        "pull",
        help="download models from the catalog, verified by size and sha256",
        description="Download the catalog's files into the models directory (the default set "
        "unless NAMEs or --all are given); files already present and correct are kept.",
    )
    pull_cmd.add_argument("names", nargs="*", metavar="NAME", help="models to pull")
    pull_cmd.add_argument("--all", action="store_true", dest="everything", help="every model")
    pull_cmd.add_argument(
        "--models-dir", type=Path, default=settings.models_dir, help="default: %(default)s"
    )
    pull_cmd.add_argument(
        "--from",
        dest="source",
        default=settings.models_source,
        metavar="DIR_OR_URL",
        help="a mirror directory or http(s) base URL holding the files under their catalog "
        "names (default: VISION_MODELS_SOURCE, else each file's URL)",
    )
    pull_cmd.add_argument(
        "--catalog",
        type=Path,
        help=f"default: MODELS_DIR/{CATALOG_FILE} if present, else the bundled one",
    )
    pull_cmd.add_argument(
        "--list", action="store_true", help="list the catalog (licences, sizes) and exit"
    )
    pull_cmd.set_defaults(run=_pull)

    serve_cmd = commands.add_parser("serve", help="run the HTTP service")
    serve_cmd.add_argument("--host", help=f"default: VISION_HOST or {settings.host}")
    serve_cmd.add_argument("--port", type=int, help=f"default: VISION_PORT or {settings.port}")
    serve_cmd.add_argument(
        "--models-dir", type=Path, help=f"default: VISION_MODELS_DIR or {settings.models_dir}"
    )
    serve_cmd.set_defaults(run=_serve)
    add_gallery_command(commands, settings)
    return parser


def _pull(args: argparse.Namespace) -> int:
    models_dir: Path = args.models_dir
    catalog = load_catalog(args.catalog or _default_catalog(models_dir))
    if args.list:
        print(_listing(catalog, models_dir))
        return 0
    pulled = pull(
        catalog,
        args.names,
        models_dir,
        source=args.source,
        progress=TextProgress(sys.stderr),
        everything=args.everything,
    )
    print(summary(pulled, models_dir), file=sys.stderr)
    return 0


def _default_catalog(models_dir: Path) -> Path:
    own = models_dir / CATALOG_FILE
    return own if own.is_file() else bundled_catalog_path()


def _listing(catalog: Catalog, models_dir: Path) -> str:
    """One line per model: name, default set, task, size, pulled or not, licence."""
    lines = []
    for name, model in catalog.models.items():
        size = sum(f.size for f in model.files) / 1e6
        pulled = all((models_dir / name / f.save_as).is_file() for f in model.files)
        flag = "default" if model.default else "-"
        lines.append(
            f"{name:40} {flag:8} {model.task:12} {size:6.1f} MB  "
            f"{'pulled' if pulled else 'not pulled':10}  {model.licence}"
        )
    return "\n".join(lines)


def _serve(args: argparse.Namespace) -> int:
    from service.api import serve  # imported here: `pull` must not pay for the web stack

    cap_malloc_arenas()  # before any thread: see service.runtime.malloc_arenas
    try:
        serve(host=args.host, port=args.port, models_dir=args.models_dir)
    except ProviderUnavailableError as exc:  # VISION_REQUIRE_GPU=true without a usable GPU
        print(f"error: VISION_REQUIRE_GPU is set but {exc}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
