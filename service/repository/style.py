"""The style tasks' part of a ModelSpec: the second input, the vector size and the geometry.

Style models take more than the image: ``stylize`` a weight per built-in style, ``style-transfer``
the style vector a ``style-predict`` model makes. Their names and sizes are read from the graph
here, once, so pipelines never guess which input is which.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from service.repository.config import ModelConfig
from service.repository.errors import ModelConfigError
from service.repository.metadata import ModelSignature, TensorInfo

STYLE_TASKS = ("stylize", "style-predict", "style-transfer")


@dataclass(frozen=True)
class StyleSpec:
    """What a style pipeline needs beyond the image input.

    ``shape`` is that of the style weights (stylize: one per built-in style) or of the style
    vector (style-predict: its output; style-transfer: its vector input).
    """

    input: str | None  # stylize: the style-weights input; style-transfer: the vector input
    shape: tuple[int, ...]
    multiple: int  # stylize: the network's output sides are rounded up to a multiple of this
    min_side: int  # stylize: smallest side the network takes
    predictor: str | None  # style-transfer: the style-predict model making its vectors

    @property
    def size(self) -> int:
        """The number of styles, or the style vector's length."""
        return math.prod(self.shape)


def resolve_style(
    task: str,
    cfg: ModelConfig,
    signature: ModelSignature,
    image: TensorInfo,
    *,
    config_file: str,
    model_file: str,
) -> StyleSpec | None:
    """The StyleSpec of a style model (None for other tasks); refuses graphs that do not fit."""
    if task not in STYLE_TASKS:
        return None
    style = cfg.style
    if task == "style-transfer" and style.predictor is None:
        raise ModelConfigError(
            f"{config_file}: key 'style.predictor' is required for task 'style-transfer' "
            "(the style-predict model whose vectors it takes); allowed: a model name"
        )
    if task == "style-predict":
        if len(signature.outputs) != 1:
            raise ModelConfigError(
                f"{model_file}: a style-predict model has one output (the style vector), "
                f"this one has {len(signature.outputs)}"
            )
        name, shape = None, _static_shape(signature.outputs[0], model_file)
    else:
        name, shape = _second_input(task, signature, image, model_file)
    return StyleSpec(
        input=name,
        shape=shape,
        multiple=style.multiple or 1,
        min_side=style.min_side or 1,
        predictor=style.predictor,
    )


def _second_input(
    task: str, signature: ModelSignature, image: TensorInfo, model_file: str
) -> tuple[str, tuple[int, ...]]:
    """The one input besides the image: style weights (stylize) or the style vector."""
    others = [tensor for tensor in signature.inputs if tensor.name != image.name]
    what = "one weight per style" if task == "stylize" else "the style vector"
    if len(others) != 1:
        found = ", ".join(f"{t.name} {list(t.shape)}" for t in signature.inputs)
        raise ModelConfigError(
            f"{model_file}: task {task!r} needs two inputs, the image and {what}; inputs: {found}"
        )
    return others[0].name, _static_shape(others[0], model_file)


def _static_shape(tensor: TensorInfo, model_file: str) -> tuple[int, ...]:
    """The shape of a tensor whose every axis is fixed."""
    dims = [tensor.static_dim(axis) for axis in range(len(tensor.shape))]
    if not dims or None in dims:
        raise ModelConfigError(
            f"{model_file}: {tensor.name!r} {list(tensor.shape)} must have a fixed shape "
            "(its size is the number of styles or the style vector's length)"
        )
    return tuple(d for d in dims if d is not None)
