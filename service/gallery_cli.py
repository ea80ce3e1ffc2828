"""``python -m service gallery reembed MODEL``: move the face gallery to another embedder.

It loads the models of the models directory, embeds every stored face crop again with the
face-embed model ``MODEL`` and replaces the embeddings in one transaction. Stop the service
first: a running service keeps its in-memory matrix until it restarts.
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
        "--gallery", type=Path, default=settings.gallery_path, help="default: %(default)s"
    )
    reembed_cmd.add_argument(
        "--models-dir", type=Path, default=settings.models_dir, help="default: %(default)s"
    )
    reembed_cmd.set_defaults(run=_reembed)


def _reembed(args: argparse.Namespace) -> int:
    from service.errors import ServiceError
    from service.faces import Gallery, SqliteFaceStore
    from service.faces.reembed import reembed
    from service.pipelines.embedder import FaceEmbedder
    from service.pipelines.registry import ModelRegistry

    settings = Settings().model_copy(update={"models_dir": args.models_dir})
    try:
        registry = ModelRegistry(settings)
        registry.load_all()
        embedder = registry.get(FaceEmbedder, args.model)
        gallery = Gallery(SqliteFaceStore(args.gallery))
        gallery.sync()
        try:
            moved = reembed(gallery, embedder)
        finally:
            gallery.close()
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"done: {moved} face(s) of {args.gallery} embedded by {args.model}", file=sys.stderr)
    return 0
