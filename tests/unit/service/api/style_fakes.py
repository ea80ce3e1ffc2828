"""Stand-ins for the style pipelines: flat colours anyone can compute by hand.

FakeStylizer paints the content with the weighted mix of PALETTE (one colour per style);
FakeStyleTransfer paints it with the style picture's mean colour. Both keep the content's size.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.pipelines.results import ModelInfo
from service.pipelines.style_transfer import StyleTransfer
from service.pipelines.stylizer import StyledImage, Stylizer
from tests.unit.service.api.fakes import PROVIDER, TIMINGS

PALETTE = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]], dtype=np.float64)


def flat(hw: tuple[int, int], colour: NDArray[Any]) -> NDArray[np.uint8]:
    return np.broadcast_to(np.round(colour).astype(np.uint8), (*hw, 3)).copy()


class FakeStylizer(Stylizer):
    def __init__(self, name: str = "fake-stylizer") -> None:  # no model: nothing to pass on
        self.info = ModelInfo(name=name, task="stylize", provider=PROVIDER)
        self.num_styles = len(PALETTE)
        self.calls: list[dict[str, Any]] = []

    def run(
        self,
        pixels: NDArray[np.uint8],
        *,
        weights: NDArray[np.float32],
        strength: float = 1.0,
        max_side: int = 1024,
    ) -> StyledImage:
        self.calls.append(
            {
                "shape": pixels.shape,
                "weights": weights.tolist(),
                "strength": strength,
                "max_side": max_side,
            }
        )
        colour = weights.astype(np.float64) @ PALETTE
        return StyledImage(self.info, flat(pixels.shape[:2], colour), TIMINGS)

    def previews(self) -> list[NDArray[np.uint8]]:
        return [flat((16, 16), colour) for colour in PALETTE]


class FakeStyleTransfer(StyleTransfer):
    def __init__(self, name: str = "fake-transfer") -> None:  # no model: nothing to pass on
        self.info = ModelInfo(name=name, task="style-transfer", provider=PROVIDER)
        self.calls: list[dict[str, Any]] = []

    def run(
        self,
        pixels: NDArray[np.uint8],
        style_pixels: NDArray[np.uint8],
        *,
        strength: float = 1.0,
        max_side: int = 1024,
    ) -> StyledImage:
        self.calls.append(
            {
                "shape": pixels.shape,
                "style_shape": style_pixels.shape,
                "strength": strength,
                "max_side": max_side,
            }
        )
        colour = style_pixels.reshape(-1, 3).mean(axis=0)
        return StyledImage(self.info, flat(pixels.shape[:2], colour), TIMINGS)
