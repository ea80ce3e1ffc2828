"""Stylizer: fast neural style transfer with built-in styles, mixed by a weight per style.

The network (e.g. multistyle26) is fully convolutional: it runs on the picture at its own size,
reflect-padded up to the sides it can take (a multiple of ``style.multiple``, at least
``style.min_side``), and the output is cropped back, so the answer has the content's size.
Reflection, not a flat fill, because a flat border would be painted as an edge of its own.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from service.pipelines.preprocess import to_tensor
from service.pipelines.protocol import LoadedModel, model_info
from service.pipelines.results import ModelInfo, Timings
from service.pipelines.runner import Runner
from service.repository.spec import ModelSpec
from service.repository.style import StyleSpec
from service.timing import StageClock

PREVIEW_SIDE = 128


@dataclass(frozen=True)
class StyledImage:
    """A stylised picture, (H, W, 3) RGB uint8, the content's size (fitted into max_side)."""

    model: ModelInfo
    pixels: NDArray[np.uint8]
    timings: Timings


def style_of(spec: ModelSpec) -> StyleSpec:
    """The spec's StyleSpec; resolve_spec sets one for every style task."""
    if spec.style is None:
        raise ValueError(f"task {spec.task!r} has no style spec")
    return spec.style


def fit_within(image_hw: tuple[int, int], max_side: int) -> tuple[int, int]:
    """``image_hw`` shrunk (never enlarged) so neither side exceeds ``max_side``."""
    height, width = image_hw
    scale = min(1.0, max_side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def resized(pixels: NDArray[np.uint8], hw: tuple[int, int]) -> NDArray[np.uint8]:
    """``pixels`` at ``hw`` (Lanczos), or unchanged when already that size."""
    if pixels.shape[:2] == hw:
        return pixels
    image = Image.fromarray(np.ascontiguousarray(pixels)).resize(
        (hw[1], hw[0]), Image.Resampling.LANCZOS
    )
    return np.asarray(image, dtype=np.uint8)


def reflect_pad(pixels: NDArray[np.uint8], hw: tuple[int, int]) -> NDArray[np.uint8]:
    """Mirror the picture past its bottom and right edges out to ``hw``."""
    pad_h, pad_w = hw[0] - pixels.shape[0], hw[1] - pixels.shape[1]
    if pad_h == pad_w == 0:
        return pixels
    mirror = min(pixels.shape[:2]) > 1  # a 1-px line has no mirror image: repeat it
    padded: NDArray[np.uint8] = np.pad(
        pixels, ((0, pad_h), (0, pad_w), (0, 0)), mode="reflect" if mirror else "edge"
    )
    return padded


def padded_size(hw: tuple[int, int], multiple: int, min_side: int) -> tuple[int, int]:
    """The smallest sides >= ``hw`` and ``min_side`` that are multiples of ``multiple``."""
    return (
        -(-max(hw[0], min_side) // multiple) * multiple,
        -(-max(hw[1], min_side) // multiple) * multiple,
    )


def to_pixels(values: NDArray[np.floating]) -> NDArray[np.uint8]:
    """0..1 floats to uint8, rounded and clipped."""
    scaled = np.clip(np.asarray(values, dtype=np.float32) * 255.0 + 0.5, 0, 255)
    pixels: NDArray[np.uint8] = scaled.astype(np.uint8)
    return pixels


def blend(
    styled: NDArray[np.floating], content: NDArray[np.uint8], strength: float
) -> NDArray[np.uint8]:
    """``strength`` of the styled picture (0..1 floats) over the content, pixel by pixel."""
    if strength >= 1.0:
        return to_pixels(styled)
    mixed = strength * styled + (1.0 - strength) * (content.astype(np.float32) / 255.0)
    return to_pixels(mixed)


def preview_card(side: int = PREVIEW_SIDE) -> NDArray[np.uint8]:
    """A deterministic test card: a colour gradient, a dark disc and light stripes, so a
    preview shows how a style paints smooth areas, a round edge and straight lines."""
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32) / (side - 1)
    card = np.stack([xs, ys, 1.0 - 0.5 * (xs + ys)], axis=-1) * 200.0 + 30.0
    disc = (xs - 0.38) ** 2 + (ys - 0.42) ** 2 < 0.22**2
    card[disc] = (40.0, 30.0, 60.0)
    stripes = (ys > 0.72) & (((xs * side) // max(1, side // 16)) % 2 == 0)
    card[stripes] = (235.0, 235.0, 220.0)
    return card.astype(np.uint8)


class Stylizer:
    """Built-in styles (task ``stylize``): one-hot weights pick a style, several mix them."""

    task: ClassVar[str] = "stylize"

    def __init__(self, name: str, spec: ModelSpec, runner: Runner) -> None:
        self.spec = spec
        self.style = style_of(spec)
        self.runner = runner
        self.num_styles = self.style.size
        self.info = model_info(name, spec, runner, resamples=False)  # Lanczos: resized()
        self._previews: list[NDArray[np.uint8]] | None = None
        self._previews_lock = threading.Lock()

    @classmethod
    def load(cls, model: LoadedModel) -> Self:
        return cls(model.name, model.spec, model.session)

    def run(
        self,
        pixels: NDArray[np.uint8],
        *,
        weights: NDArray[np.float32],
        strength: float = 1.0,
        max_side: int = 1024,
    ) -> StyledImage:
        """Stylise one (H, W, 3) RGB image; ``weights`` (one per style) sum to 1.

        The styles have no content vector to interpolate with, so ``strength`` < 1 mixes the
        styled picture with the content pixel by pixel; 0 returns the content unchanged.
        """
        clock = StageClock()
        with clock.stage("preprocess"):
            content = resized(pixels, fit_within((pixels.shape[0], pixels.shape[1]), max_side))
        if strength <= 0.0:
            return StyledImage(self.info, content, Timings.of(clock))
        height, width = content.shape[:2]
        with clock.stage("preprocess"):
            sides = padded_size((height, width), self.style.multiple, self.style.min_side)
            tensor = to_tensor(reflect_pad(content, sides), self.spec.input)
        assert self.style.input is not None
        with clock.stage("inference"):
            output = self.runner.run({self.spec.input.name: tensor, self.style.input: weights})
        with clock.stage("postprocess"):
            styled = first_hwc(np.asarray(output[0], dtype=np.float32), self.spec)
            result = blend(styled[:height, :width], content, strength)
        return StyledImage(self.info, result, Timings.of(clock))

    def one_hot(self, index: int) -> NDArray[np.float32]:
        """The weights that pick style ``index`` alone."""
        weights = np.zeros(self.num_styles, dtype=np.float32)
        weights[index] = 1.0
        return weights

    def previews(self) -> list[NDArray[np.uint8]]:
        """Every style applied to the test card; computed on first use, then kept."""
        with self._previews_lock:
            if self._previews is None:
                card = preview_card()
                self._previews = [
                    self.run(card, weights=self.one_hot(i)).pixels for i in range(self.num_styles)
                ]
            return self._previews

    def warm_up(self) -> None:
        grey = np.full((*self.spec.input.size, 3), 114, dtype=np.uint8)
        self.run(grey, weights=self.one_hot(0))


def first_hwc(output: NDArray[np.float32], spec: ModelSpec) -> NDArray[np.float32]:
    """The first image of an output batch as (H, W, 3), in the input's tensor layout."""
    image: NDArray[np.float32] = output[0]
    return image.transpose(1, 2, 0) if spec.input.layout == "NCHW" else image
