"""Masks as users get them from Ultralytics: outlines in image pixels, and whole-image masks.

``detection`` gives each mask in network-input pixels (letterbox included), as Ultralytics'
``results.masks.data``. Its ``results.masks.xy`` outlines come from ``ops.masks2segments``
(strategy ``all``): the external contours of each mask (``cv2.findContours``, RETR_EXTERNAL,
CHAIN_APPROX_SIMPLE), several contours joined into one by ``merge_multi_segment``, then mapped
back by the letterbox record and clipped. Tracing contours is OpenCV's job, so it lives here
and ``detection`` stays numpy-only.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from detection import Transform

Points = NDArray[np.int32]


def mask_outline(mask: NDArray[np.bool_], transform: Transform) -> NDArray[np.float32]:
    """(K, 2) x, y outline of one (H_in, W_in) mask in image pixels; (0, 2) for no contour."""
    contours, _ = cv2.findContours(
        mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    if not contours:
        return np.zeros((0, 2), np.float32)
    segments: list[Points] = [np.asarray(c, np.int32).reshape(-1, 2) for c in contours]
    joined = segments[0] if len(segments) == 1 else np.concatenate(join_segments(segments))
    return transform.points_to_image(joined.astype(np.float32))


def join_segments(segments: list[Points]) -> list[Points]:
    """Ultralytics' ``merge_multi_segment`` (data/converter.py): one path through every contour.

    Neighbouring contours (in findContours' order) are linked at their closest pair of points.
    A forward pass walks each contour, closed, from where it is entered up to where it is left
    (reversing a middle contour whose exit comes first); a backward pass adds the rest of each
    middle contour, so the path returns along the links. Kept point for point, because the
    polygon users compare is exactly this sequence.
    """
    links: list[list[int]] = [[] for _ in segments]
    for i in range(1, len(segments)):
        leave, enter = _closest_pair(segments[i - 1], segments[i])
        links[i - 1].append(leave)
        links[i].append(enter)
    last = len(segments) - 1
    walked: list[Points] = []
    closed: list[Points] = []
    for i, (segment, link) in enumerate(zip(segments, links, strict=True)):
        if len(link) == 2 and link[0] > link[1]:
            link = [len(segment) - 1 - index for index in link]
            segment = segment[::-1]
        rolled = np.roll(segment, -link[0], axis=0)
        rolled = np.concatenate([rolled, rolled[:1]])
        closed.append(rolled)
        walked.append(rolled if i in (0, last) else rolled[: link[1] - link[0] + 1])
    for i in range(last - 1, 0, -1):
        walked.append(closed[i][abs(links[i][1] - links[i][0]) :])
    return walked


def _closest_pair(first: Points, second: Points) -> tuple[int, int]:
    """Indices of the closest points of two contours (the first such pair in row order)."""
    distances = ((first[:, None, :] - second[None, :, :]) ** 2).sum(-1)
    row, column = np.unravel_index(int(np.argmin(distances)), distances.shape)
    return int(row), int(column)


def image_mask(mask: NDArray[np.bool_], transform: Transform) -> NDArray[np.bool_]:
    """One (H_in, W_in) input-space mask as an (H, W) mask of the image: the letterbox padding
    cut off and the rest resized bilinearly, kept where it covers at least half a pixel."""
    left, top = transform.offset_xy
    resized_h, resized_w = transform.resized_hw
    height, width = transform.image_hw
    inside = mask[max(top, 0) : top + resized_h, max(left, 0) : left + resized_w]
    scaled = cv2.resize(
        inside.astype(np.uint8) * 255, (width, height), interpolation=cv2.INTER_LINEAR
    )
    image: NDArray[np.bool_] = scaled >= 128
    return image
