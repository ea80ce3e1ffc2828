"""Choosing a decoder from output shapes and metadata, refusing loudly when in doubt.

A wrong guess here is how peers confuse ``[1, 84, 8400]`` (v8) with ``[1, 25200, 85]`` (v5):
when the shapes and metadata allow two readings (``4 + nc == N``, a YOLOX grid without
metadata, ...), this raises and asks for ``[output] layout`` in model.toml instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from detection.errors import LayoutError

Dim = int | str | None
Shape = Sequence[Dim]


def _static(dim: Dim) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


def _last_dims(shapes: Sequence[Shape]) -> list[int | None]:
    return [_static(shape[-1]) if shape else None for shape in shapes]


def detect_layout(
    output_shapes: Sequence[Shape],
    metadata: Mapping[str, str] | None = None,
    num_classes: int | None = None,
) -> str:
    """The layout name (a key of ``detection.decoders.DECODERS``) these outputs have.

    ``output_shapes`` may hold symbolic dimensions (str or None) from dynamic ONNX shapes.
    ``metadata`` is the model's custom metadata (ultralytics: ``end2end``, ``kpt_shape``, ...).
    """
    meta = metadata or {}
    described = ", ".join(str(list(shape)) for shape in output_shapes)
    count = len(output_shapes)
    if count == 1:
        return _single_output(list(output_shapes[0]), meta, num_classes, described)
    last = sorted(d or 0 for d in _last_dims(output_shapes))
    ranks = {len(shape) for shape in output_shapes}
    if count == 2 and last == [2, 4]:
        return "ultraface"
    if count == 3 and last == [2, 4, 10]:
        return "retinaface"
    if count == 12 and ranks == {3}:
        return "yunet"
    if count in (6, 9) and ranks <= {2, 3}:
        return "scrfd"
    if count == 4 and ranks == {4}:
        return "centerface"
    if ranks <= {4, 5} and count in (2, 3, 4):
        return "yolov3"
    raise LayoutError(
        f"cannot tell the layout of {count} outputs {described}; set [output] layout in model.toml"
    )


def _single_output(
    shape: list[Dim], meta: Mapping[str, str], num_classes: int | None, described: str
) -> str:
    if len(shape) == 4:
        return "yolov2"
    if len(shape) != 3:
        raise LayoutError(f"no known layout has a single output of shape {described}")
    rows, columns = _static(shape[1]), _static(shape[2])
    if meta.get("end2end", "").lower() == "true" or (columns == 6 and rows != 6):
        return "end2end"
    if rows is not None and rows == columns:
        raise LayoutError(
            f"the output {described} is square: channels-first [B, 4 + nc, N] and rows "
            "[B, N, 4 + nc] read the same; set [output] layout in model.toml"
        )
    keypoints = _keypoint_channels(meta)
    readings = []
    if num_classes is not None:
        if rows == 4 + num_classes + keypoints:
            readings.append("yolov8")
        if columns == 5 + num_classes:
            readings.append("yolov5" if "stride" in meta else "yolox-or-yolov5")
    elif rows is not None and columns is not None and rows != columns:
        readings.append("yolov8" if rows < columns else "yolov5-or-yolox")
    elif rows is not None and columns is None:
        readings.append("yolov8")  # [B, 84, anchors]: channels are fixed, anchors dynamic
    if len(readings) == 1 and "-or-" not in readings[0]:
        return readings[0]
    if readings == ["yolov5-or-yolox"] and "stride" in meta:
        return "yolov5"  # ultralytics' YOLOv5 export writes stride and names metadata
    raise LayoutError(
        f"the output {described} with {num_classes if num_classes is not None else 'unknown'} "
        f"classes could be {' or '.join(_spelled(readings)) or 'no known layout'}; "
        "set [output] layout in model.toml (yolov8, yolov5, yolox, ...)"
    )


def _spelled(readings: list[str]) -> list[str]:
    names = []
    for reading in readings:
        names.extend(reading.split("-or-"))
    return names


def _keypoint_channels(meta: Mapping[str, str]) -> int:
    """3 x K channels for ultralytics pose models (``kpt_shape: [17, 3]``)."""
    shape = meta.get("kpt_shape", "").strip("[]() ").split(",")
    try:
        return int(shape[0]) * int(shape[1])
    except (ValueError, IndexError):
        return 0
