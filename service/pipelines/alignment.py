"""5-point face alignment onto the 112x112 ArcFace template (what SFace/MobileFaceNet expect).

A least-squares similarity transform (rotation, uniform scale, translation: Umeyama 1991) maps
the detector's landmarks onto the template; the crop is then sampled as SFace's reference does
it, OpenCV's ``FaceRecognizerSF::alignCrop``: ``cv2.warpAffine`` with INTER_LINEAR, black
outside the picture (insightface's ``face_align.norm_crop`` warps the same way).
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)
ALIGNED_SIZE = 112


def similarity_transform(
    source: NDArray[np.floating], target: NDArray[np.floating]
) -> NDArray[np.float64]:
    """2x3 matrix of the similarity transform best mapping ``source`` points onto ``target``."""
    src = np.asarray(source, dtype=np.float64)
    dst = np.asarray(target, dtype=np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_centred, dst_centred = src - src_mean, dst - dst_mean
    covariance = dst_centred.T @ src_centred / len(src)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1.0
    rotation = u @ np.diag(sign) @ vt
    variance = (src_centred**2).sum() / len(src)
    scale = float((singular * sign).sum() / variance) if variance > 0 else 1.0
    translation = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, translation[:, None]])


def align_face(pixels: NDArray[np.uint8], landmarks: NDArray[np.floating]) -> NDArray[np.uint8]:
    """The (112, 112, 3) crop of the face whose 5 landmarks (x, y) are given in ``pixels``."""
    matrix = similarity_transform(landmarks, ARCFACE_TEMPLATE)
    crop = cv2.warpAffine(
        np.ascontiguousarray(pixels),
        matrix,
        (ALIGNED_SIZE, ALIGNED_SIZE),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )
    return np.asarray(crop, dtype=np.uint8)
