"""``/detect?format=image``: the upright picture as JPEG, with each box and its label drawn."""

from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from service.pipelines.results import DetectionResult

JPEG_QUALITY = 90
# Ultralytics' palette, so pictures look like the ones users know; indexed by class id.
PALETTE = (
    (255, 56, 56), (255, 157, 151), (255, 112, 31), (255, 178, 29), (207, 210, 49),
    (72, 249, 10), (146, 204, 23), (61, 219, 134), (26, 147, 52), (0, 212, 187),
    (44, 153, 168), (0, 194, 255), (52, 69, 147), (100, 115, 255), (0, 24, 236),
    (132, 56, 255), (82, 0, 133), (203, 56, 255), (255, 149, 200), (255, 55, 199),
)  # fmt: skip


def render_detections(pixels: NDArray[np.uint8], result: DetectionResult) -> bytes:
    """JPEG bytes of ``pixels`` (H, W, 3 RGB) with the detections drawn, same size."""
    image = Image.fromarray(np.ascontiguousarray(pixels))
    draw = ImageDraw.Draw(image)
    longest = max(image.size)
    line = max(1, round(longest / 400))
    font = _font(max(10, round(longest / 50)))
    for (x1, y1, x2, y2), confidence, class_id, label in zip(
        result.xyxy.tolist(),
        result.confidence.tolist(),
        result.class_id.tolist(),
        result.labels,
        strict=True,
    ):
        color = PALETTE[class_id % len(PALETTE)]
        left, right = sorted((x1, x2))
        top, bottom = sorted((y1, y2))
        draw.rectangle((left, top, right, bottom), outline=color, width=line)
        text = f"{label} {confidence:.2f}"
        tl, tt, tr, tb = draw.textbbox((0, 0), text, font=font)
        width, height = tr - tl + 2 * line, tb - tt + 2 * line
        # Above the box when there is room, else just inside its top edge.
        y = top - height if top - height >= 0 else top
        x = min(left, max(0, image.width - width))
        draw.rectangle((x, y, x + width, y + height), fill=color)
        draw.text((x + line - tl, y + line - tt), text, fill=_ink(color), font=font)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled font (scalable when FreeType is present, else its bitmap font)."""
    return ImageFont.load_default(size=size)


def _ink(background: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white, whichever reads better on ``background``."""
    red, green, blue = background
    return (0, 0, 0) if 0.299 * red + 0.587 * green + 0.114 * blue > 150 else (255, 255, 255)
