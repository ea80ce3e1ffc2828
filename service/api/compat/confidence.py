"""Face-match ``confidence`` as DeepStack clients read it, from our cosine similarity.

DeepStack clients compare a 0-1 ``confidence`` with their own ``min_confidence`` (Home
Assistant's deepstack-python sends 0.45 on every call, deepstack-sdk 0.7). Our embedders have
a calibrated cosine threshold τ instead (SFace: 0.363), so the two are tied by one documented,
monotone, piecewise-linear map that puts τ in the middle of the scale:

    cosine ≤ 0 → 0        cosine = τ → 0.5        cosine = 1 → 1

linear in between on each side. A face is a match exactly when its confidence reaches
``min_confidence``, i.e. when its cosine reaches ``cosine_for(min_confidence)``; without a
``min_confidence`` the calibrated τ decides. Unlike ``(cos + 1) / 2`` this never calls two
unrelated faces (cosine ≈ 0) "50 % the same person".
"""

from __future__ import annotations

AT_THRESHOLD = 0.5  # the confidence of a face exactly at the calibrated cosine threshold
_EDGE = 1e-6  # keeps a degenerate τ (≤ 0 or ≥ 1 in a model.toml) from dividing by zero


def _tau(threshold: float) -> float:
    return min(max(threshold, _EDGE), 1.0 - _EDGE)


def confidence_of(cosine: float, threshold: float) -> float:
    """The DeepStack confidence (0-1) of a cosine similarity, for calibrated ``threshold``."""
    tau = _tau(threshold)
    if cosine <= tau:
        return max(0.0, cosine) / tau * AT_THRESHOLD
    return min(1.0, AT_THRESHOLD + (cosine - tau) / (1.0 - tau) * (1.0 - AT_THRESHOLD))


def cosine_for(confidence: float, threshold: float) -> float:
    """The cosine at which ``confidence_of`` reaches ``confidence``: its inverse on [0, 1]."""
    tau = _tau(threshold)
    if confidence <= AT_THRESHOLD:
        return confidence / AT_THRESHOLD * tau
    return tau + (confidence - AT_THRESHOLD) / (1.0 - AT_THRESHOLD) * (1.0 - tau)
