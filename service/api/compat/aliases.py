"""Custom-model aliases: the model names CodeProject.AI clients ask ``/v1/vision/custom/{name}``
for (Viseron's default ``ipcam-general``, Blue Iris configs), mapped to one of our detectors,
optionally filtered to some of its classes.

``VISION_CUSTOM_MODEL_ALIASES`` holds ``name=model[:label|label...]`` entries separated by
commas; an empty model means the default detector. The CodeProject.AI IP-camera names are
mapped by default to the default (COCO) detector filtered to the classes they detect; names
that mean something a COCO detector cannot see (``license-plate``) are not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_PEOPLE_AND_VEHICLES = ("person", "bicycle", "car", "motorcycle", "bus", "truck")
_ANIMALS = ("bird", "cat", "dog", "horse", "sheep", "cow", "bear")

#: CodeProject.AI's IP-camera models, by what they detect.
CODEPROJECT_ALIASES: dict[str, str] = {
    "ipcam-general": ":" + "|".join(_PEOPLE_AND_VEHICLES),
    "ipcam-dark": ":" + "|".join((*_PEOPLE_AND_VEHICLES, "cat", "dog")),
    "ipcam-animal": ":" + "|".join(_ANIMALS),
    "ipcam-combined": ":" + "|".join((*_PEOPLE_AND_VEHICLES, *_ANIMALS)),
}


@dataclass(frozen=True)
class Alias:
    """What a custom-model name stands for: a detector (None: the default one) and the
    labels kept (empty: all of them)."""

    model: str | None
    labels: tuple[str, ...]

    def class_ids(self, known: Sequence[str]) -> list[int] | None:
        """The detector's class ids of ``labels`` (those it knows); None: every class."""
        if not self.labels:
            return None
        return [i for i, label in enumerate(known) if label in self.labels]


def parse_alias(target: str) -> Alias:
    """``model[:label|label]`` → an Alias; the parts are stripped."""
    model, _, labels = target.partition(":")
    kept = tuple(label.strip() for label in labels.split("|") if label.strip())
    return Alias(model.strip() or None, kept)


def aliases(configured: Mapping[str, str]) -> dict[str, Alias]:
    """The CodeProject.AI defaults overridden and extended by the configured entries."""
    merged = {**CODEPROJECT_ALIASES, **configured}
    return {name: parse_alias(target) for name, target in merged.items()}
