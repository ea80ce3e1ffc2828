"""``python -m service gallery reembed MODEL``: move the face gallery to another embedder.

It loads the models of the models directory, embeds every stored face crop again with the
face-embed model ``MODEL`` and replaces the embeddings in one transaction, in the gallery the
server would open: PostgreSQL when ``VISION_GALLERY_URL`` is set, else the SQLite file. Stop a
service on the SQLite file first: it keeps its in-memory matrix until it restarts (replicas of
a PostgreSQL gallery reload by themselves when told of the write).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from service.settings import Settings


def add_gallery_command(commands: Any, settings: Settings) -> None:
    """Register ``gallery reembed`` on the subcommands of ``python -m service``."""
    gallery_cmd = commands.add_parser("gallery", help="manage the face gallery")
    actions = gallery_cmd.add_subparsers(required=True, metavar="ACTION")
    reembed_cmd = actions.add_parser(
        "reembed",
        help="embed every face again with another face-embed model, from its stored crop",
        description="Needs a crop for every face (VISION_GALLERY_KEEP_CROPS=true at "
        "enrolment); refuses, changing nothing, otherwise. Stop the service first.",
    )
    reembed_cmd.add_argument("model", metavar="MODEL", help="a face-embed model's name")
    reembed_cmd.add_argument(
        "--gallery",
        type=Path,
        default=settings.gallery_path,
        help="the SQLite file, unless VISION_GALLERY_URL is set (default: %(default)s)",
    )
    reembed_cmd.add_argument(
        "--models-dir", type=Path, default=settings.models_dir, help="default: %(default)s"
    )
    reembed_cmd.set_defaults(run=_reembed)


def _reembed(args: argparse.Namespace) -> int:
    from service.errors import ServiceError
    from service.faces import Gallery
    from service.faces.reembed import reembed
    from service.faces.stores import open_store
    from service.pipelines.embedder import FaceEmbedder
    from service.pipelines.registry import ModelRegistry

    settings = Settings().model_copy(
        update={"models_dir": args.models_dir, "gallery_path": args.gallery}
    )
    try:
        registry = ModelRegistry(settings)
        registry.load_all()
        embedder = registry.get(FaceEmbedder, args.model)
        gallery = Gallery(open_store(settings))
        try:
            gallery.sync()
            moved = reembed(gallery, embedder)
        finally:
            gallery.close()
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    where = "the PostgreSQL gallery" if settings.gallery_url else args.gallery
    print(f"done: {moved} face(s) of {where} embedded by {args.model}", file=sys.stderr)
    return 0
