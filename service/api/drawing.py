"""``/detect?format=image``: the upright picture as JPEG, with what was found drawn on it:
translucent masks, boxes (rotated ones as their four corners), pose skeletons, labels."""

from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from service.pipelines.results import DetectionResult

JPEG_QUALITY = 90
MASK_ALPHA = 96  # of 255: the picture stays readable under the masks
# COCO's 17-keypoint skeleton (pairs of keypoint indices, 0-based), as Ultralytics draws it.
COCO_LIMBS = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7),
    (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)  # fmt: skip
VISIBLE = 0.5  # keypoints scored below this are not drawn (Ultralytics' kpt_line threshold)
# Ultralytics' palette, so pictures look like the ones users know; indexed by class id.
PALETTE = (
    (255, 56, 56), (255, 157, 151), (255, 112, 31), (255, 178, 29), (207, 210, 49),
    (72, 249, 10), (146, 204, 23), (61, 219, 134), (26, 147, 52), (0, 212, 187),
    (44, 153, 168), (0, 194, 255), (52, 69, 147), (100, 115, 255), (0, 24, 236),
    (132, 56, 255), (82, 0, 133), (203, 56, 255), (255, 149, 200), (255, 55, 199),
)  # fmt: skip


def render_detections(pixels: NDArray[np.uint8], result: DetectionResult) -> bytes:
    """JPEG bytes of ``pixels`` (H, W, 3 RGB) with the detections drawn, same size."""
    image = _with_masks(Image.fromarray(np.ascontiguousarray(pixels)), result)
    draw = ImageDraw.Draw(image)
    longest = max(image.size)
    line = max(1, round(longest / 400))
    font = _font(max(10, round(longest / 50)))
    corners = result.rotated_corners()
    for i, ((x1, y1, x2, y2), confidence, class_id, label) in enumerate(result.rows()):
        color = PALETTE[class_id % len(PALETTE)]
        left, right = sorted((x1, x2))
        top, bottom = sorted((y1, y2))
        if corners is None:
            draw.rectangle((left, top, right, bottom), outline=color, width=line)
        else:
            draw.polygon([tuple(p) for p in corners[i].tolist()], outline=color, width=line)
        if result.keypoints is not None:
            _skeleton(draw, result, i, color, line)
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


def _with_masks(image: Image.Image, result: DetectionResult) -> Image.Image:
    """``image`` with each detection's outline filled, translucent, in its class colour."""
    if not result.outlines:
        return image
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    for outline, class_id in zip(result.outlines, result.class_id.tolist(), strict=True):
        if len(outline) >= 3:
            fill = (*PALETTE[class_id % len(PALETTE)], MASK_ALPHA)
            draw.polygon([tuple(p) for p in outline.tolist()], fill=fill)
    return Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")


def _skeleton(
    draw: ImageDraw.ImageDraw,
    result: DetectionResult,
    index: int,
    color: tuple[int, int, int],
    line: int,
) -> None:
    """Keypoints of detection ``index`` as dots, and COCO's limbs for 17-keypoint models."""
    assert result.keypoints is not None
    points = result.keypoints[index].tolist()
    scores = (
        result.keypoint_scores[index].tolist()
        if result.keypoint_scores is not None
        else [1.0] * len(points)
    )
    shown = [score >= VISIBLE for score in scores]
    if len(points) == 17:
        for a, b in COCO_LIMBS:
            if shown[a] and shown[b]:
                draw.line((*points[a], *points[b]), fill=color, width=line)
    radius = line + 1
    for (x, y), visible in zip(points, shown, strict=True):
        if visible:
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=color)


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled font (scalable when FreeType is present, else its bitmap font)."""
    return ImageFont.load_default(size=size)


def _ink(background: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white, whichever reads better on ``background``."""
    red, green, blue = background
    return (0, 0, 0) if 0.299 * red + 0.587 * green + 0.114 * blue > 150 else (255, 255, 255)
