"""Arbitrary style transfer (Magenta, Ghiasi et al. 2017): any picture can be the style.

A ``style-predict`` model turns the style picture into a style vector; a ``style-transfer``
model paints the content with it. ``strength`` interpolates the style vector with the content's
own vector (Magenta's way to weaken a style), so 0 gives (nearly) the content back.

The transformer takes a fixed square (384x384): the content is resized to fit it (longer side,
top-left), reflect-padded, and the output cropped back and resized to the content's size.
Resize-and-restore rather than tiling because the network normalises over the whole picture:
tiles would each get their own statistics and show seams, and its brush strokes are sized for
that input anyway.
"""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np
from numpy.typing import NDArray

from service.pipelines.preprocess import plan_transform, preprocess, to_tensor
from service.pipelines.protocol import LoadedModel, model_info
from service.pipelines.results import Timings
from service.pipelines.runner import Runner
from service.pipelines.stylizer import (
    StyledImage,
    first_hwc,
    fit_within,
    reflect_pad,
    resized,
    style_of,
    to_pixels,
)
from service.repository.errors import ModelConfigError
from service.repository.spec import ModelSpec
from service.timing import StageClock


class StylePredictor:
    """Style picture to style vector (task ``style-predict``)."""

    task: ClassVar[str] = "style-predict"

    def __init__(self, name: str, spec: ModelSpec, runner: Runner) -> None:
        self.spec = spec
        self.runner = runner
        self.vector_size = style_of(spec).size
        self.info = model_info(name, spec, runner)

    @classmethod
    def load(cls, model: LoadedModel) -> Self:
        return cls(model.name, model.spec, model.session)

    def prepare(self, pixels: NDArray[np.uint8]) -> NDArray[np.float32]:
        """The input tensor, per the model's [input] (e.g. centre crop to 256x256)."""
        tensor, _ = preprocess(pixels, self.spec.input, self.spec.input.stride)
        return tensor

    def vector(self, tensor: NDArray[np.float32]) -> NDArray[np.float32]:
        """The style vector of a prepared tensor, in the model's own output shape."""
        return np.asarray(self.runner.run({self.spec.input.name: tensor})[0], dtype=np.float32)

    def warm_up(self) -> None:
        self.vector(self.prepare(np.full((*self.spec.input.size, 3), 114, dtype=np.uint8)))


class StyleTransfer:
    """Content + style picture to the content painted in that style (task ``style-transfer``)."""

    task: ClassVar[str] = "style-transfer"

    def __init__(
        self, name: str, spec: ModelSpec, runner: Runner, predictor: StylePredictor
    ) -> None:
        self.spec = spec
        self.style = style_of(spec)
        self.runner = runner
        self.predictor = predictor
        if predictor.vector_size != self.style.size:
            raise ModelConfigError(
                f"{name} takes style vectors of {self.style.size} values, but its predictor "
                f"{predictor.info.name} makes {predictor.vector_size}"
            )
        self.info = model_info(name, spec, runner, resamples=False)  # Lanczos: resized()

    @classmethod
    def load(cls, model: LoadedModel) -> Self:
        """Linked to the ready predictor named by model.toml ``style.predictor``."""
        style = style_of(model.spec)
        predictor = model.models.get(StylePredictor, style.predictor)
        return cls(model.name, model.spec, model.session, predictor)

    def run(
        self,
        pixels: NDArray[np.uint8],
        style_pixels: NDArray[np.uint8],
        *,
        strength: float = 1.0,
        max_side: int = 1024,
    ) -> StyledImage:
        """Paint one (H, W, 3) RGB content image in the style of ``style_pixels``."""
        clock = StageClock()
        with clock.stage("preprocess"):
            out_hw = fit_within((pixels.shape[0], pixels.shape[1]), max_side)
            transform = plan_transform(out_hw, self.spec.input, self.spec.input.stride)
            scaled = resized(pixels, transform.resized_hw)
            tensor = to_tensor(reflect_pad(scaled, transform.input_hw), self.spec.input)
            style_tensor = self.predictor.prepare(style_pixels)
            content_tensor = self.predictor.prepare(pixels) if strength < 1.0 else None
        assert self.style.input is not None
        with clock.stage("inference"):
            vector = self.predictor.vector(style_tensor)
            if content_tensor is not None:
                own = self.predictor.vector(content_tensor)
                vector = (strength * vector + (1.0 - strength) * own).astype(np.float32)
            feeds = {
                self.spec.input.name: tensor,
                self.style.input: vector.reshape(self.style.shape),
            }
            output = self.runner.run(feeds)[0]
        with clock.stage("postprocess"):
            height, width = transform.resized_hw
            styled = first_hwc(np.asarray(output, dtype=np.float32), self.spec)
            restored = resized(to_pixels(styled[:height, :width]), out_hw)
        return StyledImage(self.info, restored, Timings.of(clock))

    def warm_up(self) -> None:
        grey = np.full((*self.spec.input.size, 3), 114, dtype=np.uint8)
        self.run(grey, grey)
