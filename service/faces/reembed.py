"""Moving a gallery to another embedder without re-enrolment: every face is embedded again
from its stored aligned crop (``VISION_GALLERY_KEEP_CROPS``), all in one transaction.

Without a crop for every face there is nothing to embed from, so the move is refused whole
(saying how many faces lack one) rather than leaving a gallery split over two embedders.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from service.faces.gallery import Gallery
from service.faces.store import GalleryError
from service.pipelines.embedder import FaceEmbedder


class ReembedError(GalleryError):
    """The gallery cannot be moved to the new embedder (faces without a stored crop)."""


def reembed(gallery: Gallery, embedder: FaceEmbedder) -> int:
    """Re-embed every stored face with ``embedder`` from its crop; how many faces moved."""
    records = [face for faces in gallery.subjects().values() for face in faces]
    crops = gallery.store.crops()
    missing = [record.face_id for record in records if record.face_id not in crops]
    if missing:
        raise ReembedError(
            f"{len(missing)} of {len(records)} faces have no stored crop (they were enrolled "
            "while VISION_GALLERY_KEEP_CROPS was off), so they cannot be embedded again: "
            "re-enrol or delete them first; nothing was changed"
        )
    embeddings = {
        record.face_id: embedder.embed(_pixels(crops[record.face_id]), None).vector
        for record in records
    }
    gallery.reembed(embedder.info.name, embeddings)
    return len(embeddings)


def _pixels(png: bytes) -> NDArray[np.uint8]:
    """The stored PNG crop as the RGB array the embedder takes."""
    bgr = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ReembedError("a stored face crop cannot be decoded; nothing was changed")
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
