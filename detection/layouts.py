"""Choosing a decoder from output shapes and metadata, refusing loudly when in doubt.

A wrong guess here is how peers confuse ``[1, 84, 8400]`` (v8) with ``[1, 25200, 85]`` (v5),
or decode a YOLOv5 output as YOLOX: the boxes come out plausible and wrong. So every reading
the shapes allow is listed, then narrowed by evidence (ultralytics metadata, the grid the input
size implies); when two readings remain, or none, this raises :class:`LayoutError` naming the
shapes and the candidates and asks for ``[output] layout`` in model.toml instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from detection.decoders.yolo import grid_cell_count
from detection.errors import LayoutError
from detection.metadata import UltralyticsMetadata, parse_ultralytics

Dim = int | str | None
Shape = Sequence[Dim]

__all__ = ["detect_layout"]

YOLOV5_ANCHORS_PER_CELL = 3
_SET_LAYOUT = "set [output] layout in model.toml"
_END2END_OR_RTDETR = (
    " (end2end rows are x1 y1 x2 y2 in input pixels, rtdetr rows cx cy w h in 0..1 of the input: "
    "the same shape, and no metadata tells them apart; Ultralytics writes head=RTDETRDecoder "
    "for RT-DETR, end2end=True for NMS-free YOLO)"
)
_YUNET_NAME = re.compile(r"(cls|obj|bbox|kps)_\d+")


def detect_layout(
    output_shapes: Sequence[Shape],
    metadata: Mapping[str, str] | None = None,
    num_classes: int | None = None,
    *,
    input_hw: tuple[int, int] | None = None,
    strides: Sequence[int] | None = None,
    output_names: Sequence[str] | None = None,
) -> str:
    """The layout name (a key of ``detection.decoders.DECODERS``) of these outputs.

    ``output_shapes`` may hold symbolic dimensions (str or None) from dynamic ONNX shapes; the
    shapes of a real run decide more. ``metadata`` is the model's custom metadata (ultralytics:
    ``task``, ``head``, ``end2end``, ``stride``, ``names``, ``kpt_shape``). ``num_classes``
    defaults to the count of metadata ``names``. ``input_hw`` (the input size the shapes were
    produced with) and ``strides`` (default: 8, 16, ... up to metadata ``stride``, else
    8/16/32) give the grid that tells YOLOX (one row per cell) from YOLOv5 (three per cell).
    ``output_names`` helps recognise YuNet (``cls_8``, ``obj_8``, ``bbox_8``, ``kps_8``, ...).
    Malformed metadata raises :class:`~detection.errors.MetadataError` (see
    :mod:`detection.metadata`).
    """
    meta = parse_ultralytics(metadata or {})
    described = ", ".join(str(list(shape)) for shape in output_shapes)
    names = list(output_names or ())
    if len(names) > 1 and all(_YUNET_NAME.fullmatch(name) for name in names):
        return "yunet"
    task_layout = _ultralytics_task_layout(output_shapes, meta, num_classes, input_hw, described)
    if task_layout is not None:
        return task_layout
    if len(output_shapes) == 1:
        evidence = _Evidence.gather(meta, num_classes, input_hw, strides)
        return _single_output(list(output_shapes[0]), evidence, described)
    return _multiple_outputs(output_shapes, described)


@dataclass(frozen=True)
class _Evidence:
    """What besides the shape speaks for a reading of a single output."""

    metadata: UltralyticsMetadata
    num_classes: int | None
    keypoint_channels: int
    grid_cells: int | None  # one-per-cell anchor points for the input size, None if unknown

    @classmethod
    def gather(
        cls,
        meta: UltralyticsMetadata,
        num_classes: int | None,
        input_hw: tuple[int, int] | None,
        strides: Sequence[int] | None,
    ) -> _Evidence:
        if num_classes is None and meta.names is not None:
            num_classes = len(meta.names)
        if strides is None:
            strides = meta.strides
        if not strides or min(strides) <= 0:
            raise LayoutError(f"strides must be positive, got {tuple(strides)}")
        if input_hw is not None and min(input_hw) <= 0:
            raise LayoutError(f"input_hw must be positive, got {tuple(input_hw)}")
        cells = None if input_hw is None else grid_cell_count(input_hw, strides)
        return cls(meta, num_classes, 3 * meta.num_keypoints, cells)


def _single_output(shape: list[Dim], evidence: _Evidence, described: str) -> str:
    if len(shape) == 4:
        return "yolov2"
    if len(shape) != 3:
        raise LayoutError(f"no known layout has a single output of shape {described}")
    rows, columns = _static(shape[1]), _static(shape[2])
    if rows is not None and rows == columns:
        raise LayoutError(
            f"the output {described} is square: channels-first [B, 4 + nc, N] and rows "
            f"[B, N, 5 + nc] read the same; {_SET_LAYOUT} (yolov8, yolov5, yolox, ...)"
        )
    readings = _shape_readings(rows, columns, evidence)
    readings = _narrow_by_metadata(readings, evidence.metadata, described)
    readings = _narrow_by_grid(readings, rows, columns, evidence.grid_cells)
    if len(readings) == 1:
        return readings[0]
    classes = evidence.num_classes if evidence.num_classes is not None else "unknown"
    why = _END2END_OR_RTDETR if {"end2end", "rtdetr"} <= set(readings) else ""
    grid = (
        "no input size given"
        if evidence.grid_cells is None
        else f"{evidence.grid_cells} grid cells for the input size and strides: YOLOX would "
        f"have {evidence.grid_cells} rows, YOLOv5 {YOLOV5_ANCHORS_PER_CELL * evidence.grid_cells}"
    )
    raise LayoutError(
        f"the output {described} with {classes} classes ({grid}) could be "
        f"{' or '.join(readings) or 'no known layout'}{why}; {_SET_LAYOUT} (yolov8, yolov5, "
        "yolox, end2end, rtdetr, ...)"
    )


def _shape_readings(rows: int | None, columns: int | None, evidence: _Evidence) -> list[str]:
    """Every layout whose shape rule ``[B, rows, columns]`` satisfies.

    Without a class count, channel-first (v8) needs fewer channels than anchors, and row
    layouts (v5, YOLOX) more rows than values per row. Six values per row are ``end2end``
    (ultralytics' own rule) or RT-DETR's top-k rows (``rtdetr``), and also a one-class
    v5/YOLOX when ``num_classes`` is 1.
    """
    classes, keypoints = evidence.num_classes, evidence.keypoint_channels
    readings = []
    if rows is not None:
        if classes is not None:
            channel_first = rows == 4 + classes + keypoints
        else:
            channel_first = rows > 4 + keypoints and (columns is None or rows < columns)
        if channel_first:
            readings.append("yolov8")
    if columns is not None:
        if classes is not None:
            row_layout = columns == 5 + classes
        else:
            row_layout = columns > 6 and (rows is None or rows > columns)
        if row_layout:
            readings += ["yolov5", "yolox"]
    if columns == 6 or (columns is None and evidence.metadata.end2end):
        readings.append("end2end")
    if columns == 6 or (columns is None and evidence.metadata.rtdetr):
        readings.append("rtdetr")
    return readings


def _narrow_by_metadata(
    readings: list[str], meta: UltralyticsMetadata, described: str
) -> list[str]:
    """Keep what the exporter's metadata allows; refuse when it contradicts the shape."""
    if not readings:
        return readings
    if meta.rtdetr:
        allowed, source = {"rtdetr"}, "metadata head=RTDETRDecoder"
    elif meta.end2end:
        allowed, source = {"end2end"}, "metadata end2end=True"
    elif meta.head is not None:  # a YOLO head: channel-first, or [B, K, 6] xyxy (nms=True)
        allowed, source = {"yolov8", "end2end"}, f"ultralytics metadata (head={meta.head})"
    elif meta.task is not None:  # ultralytics before the head key: RT-DETR's rows too
        allowed = {"yolov8", "end2end", "rtdetr"}
        source = f"ultralytics metadata (task={meta.task})"
    elif meta.stride is not None:  # the YOLOv5 repository writes stride and names, not task
        allowed, source = {"yolov5"}, "YOLOv5-repository metadata (stride without task)"
    else:
        return readings
    narrowed = [reading for reading in readings if reading in allowed]
    if not narrowed:
        raise LayoutError(
            f"the output {described} fits {' or '.join(readings)}, but "
            f"{source} allows only {' or '.join(sorted(allowed))}; {_SET_LAYOUT}"
        )
    return narrowed


def _narrow_by_grid(
    readings: list[str], rows: int | None, columns: int | None, cells: int | None
) -> list[str]:
    """Use the grid the input size implies.

    YOLOX and YOLOv5 share a shape rule, so only the grid tells them apart: YOLOX has one row
    per cell (its decoder needs exactly that), YOLOv5 three; a reading the grid contradicts
    is dropped. YOLOv8's shape rule is its own and its decoder needs no grid (P2 or P6 heads
    would not match a default stride list), so for it, as for ``end2end`` (K rows of six, a
    one-class v5/YOLOX look-alike), the grid only breaks a tie: when exactly one remaining
    reading is the one the grid confirms, it is kept.
    """
    if cells is None or rows is None:
        return readings
    rows_per_cell = {"yolox": 1, "yolov5": YOLOV5_ANCHORS_PER_CELL}
    readings = [
        reading
        for reading in readings
        if reading not in rows_per_cell or rows == rows_per_cell[reading] * cells
    ]
    confirmed = [
        reading
        for reading in readings
        if reading in rows_per_cell or (reading == "yolov8" and columns == cells)
    ]
    return confirmed if len(confirmed) == 1 else readings


def _multiple_outputs(output_shapes: Sequence[Shape], described: str) -> str:
    count = len(output_shapes)
    ranks = sorted(len(shape) for shape in output_shapes)
    last = sorted(_static(shape[-1]) or 0 for shape in output_shapes if shape)
    if ranks == [3] * count:
        if count == 2 and last == [2, 4] and _same_rows(output_shapes):
            return "ultraface"
        if count == 3 and last == [2, 4, 10] and _same_rows(output_shapes):
            return "retinaface"
        if count == 12 and last == [1] * 6 + [4] * 3 + [10] * 3:
            return "yunet"
    if set(ranks) <= {2, 3} and _is_scrfd(last):
        return "scrfd"
    if ranks == [4] * 4 and _is_centerface(output_shapes):
        return "centerface"
    if set(ranks) <= {4, 5} and _distinct_heads(output_shapes):
        return "yolov3"
    raise LayoutError(
        f"cannot tell the layout of {count} outputs {described} (known multi-output layouts: "
        f"yolov3 heads, ultraface, retinaface, yunet, scrfd, centerface); {_SET_LAYOUT}"
    )


def _same_rows(shapes: Sequence[Shape]) -> bool:
    """Static row counts (axis 1) agree; symbolic ones cannot disagree."""
    return len({_static(shape[1]) for shape in shapes} - {None}) <= 1


def _is_centerface(shapes: Sequence[Shape]) -> bool:
    """Four NCHW maps of one size with 1 (heat), 2 (scale), 2 (offset), 10 (landmark) channels."""
    channels = sorted(_static(shape[1]) or 0 for shape in shapes)
    return channels == [1, 2, 2, 10] and len({tuple(shape[2:]) for shape in shapes}) == 1


def _is_scrfd(last_dims: list[int]) -> bool:
    """Per stride (3 or 5 of them) a score (..., 1), box (..., 4) and optionally landmark (..., 10)."""
    for strides in (3, 5):
        for dims in ((1, 4), (1, 4, 10)):
            if last_dims == sorted(dims * strides):
                return True
    return False


def _distinct_heads(shapes: Sequence[Shape]) -> bool:
    """YOLOv3-style heads: two or more, each on its own grid, so no two shapes are equal."""
    return len(shapes) >= 2 and len({tuple(shape) for shape in shapes}) == len(shapes)


def _static(dim: Dim) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


def _ultralytics_task_layout(
    output_shapes: Sequence[Shape],
    meta: UltralyticsMetadata,
    num_classes: int | None,
    input_hw: tuple[int, int] | None,
    described: str,
) -> str | None:
    """``yolov8-seg`` or ``yolov8-obb`` where metadata ``task`` says segment or obb, or where,
    without a task, two outputs are shaped like a segmentation head's; None leaves the choice
    to the other rules. Shapes that contradict the reading are refused, saying why."""
    ranks = sorted(len(shape) for shape in output_shapes)
    if meta.task not in ("segment", "obb") and not (meta.task is None and ranks == [3, 4]):
        return None
    task = meta.task or "segment (two outputs shaped like predictions and prototypes)"
    if meta.end2end:
        raise LayoutError(
            f"the outputs {described} are an end-to-end (NMS-free) {task} export, which no "
            "decoder reads; export with end2end=False"
        )
    classes = num_classes if num_classes is not None or meta.names is None else len(meta.names)
    if meta.task == "obb":
        layout, reason = "yolov8-obb", _obb_mismatch(output_shapes, classes)
    else:
        layout, reason = "yolov8-seg", _segment_mismatch(output_shapes, classes, input_hw)
    if reason:
        raise LayoutError(f"the outputs {described} of task {task} are not {layout}: {reason}")
    return layout


def _segment_mismatch(
    shapes: Sequence[Shape], classes: int | None, input_hw: tuple[int, int] | None
) -> str | None:
    """Why these are not ``[B, 4 + nc + nm, N]`` and prototypes ``[B, nm, H/4, W/4]``, if so."""
    expected = "expected [B, 4 + nc + nm, N] and prototypes [B, nm, H/4, W/4]"
    if sorted(len(shape) for shape in shapes) != [3, 4]:
        return expected
    predictions, prototypes = sorted(shapes, key=len)
    channels, anchors = _static(predictions[1]), _static(predictions[2])
    coefficients = _static(prototypes[1])
    batches = {_static(predictions[0]), _static(prototypes[0])} - {None}
    if channels is None or coefficients is None or len(batches) > 1:
        return f"{expected}, with static channel counts and one batch size"
    if anchors is not None and channels >= anchors:
        return f"{channels} channels for {anchors} anchors look like rows (YOLOv5-seg), not read"
    wanted = 4 + coefficients + (classes if classes is not None else 1)
    if (classes is not None and channels != wanted) or channels < wanted:
        count = "nc >= 1" if classes is None else str(classes)
        return (
            f"{channels} channels do not hold 4 box values, {count} classes and "
            f"{coefficients} mask coefficients"
        )
    grid = tuple(_static(dim) for dim in prototypes[2:])
    if input_hw is not None and None not in grid and grid != (input_hw[0] // 4, input_hw[1] // 4):
        height, width = input_hw
        return f"prototypes of {grid[0]}x{grid[1]} are not a quarter of the {height}x{width} input"
    return None


def _obb_mismatch(shapes: Sequence[Shape], classes: int | None) -> str | None:
    """Why this is not one ``[B, 4 + nc + 1, N]`` output (the angle last), if it is not."""
    if len(shapes) != 1 or len(shapes[0]) != 3:
        return "expected one output [B, 4 + nc + 1, N]"
    channels, anchors = _static(shapes[0][1]), _static(shapes[0][2])
    if channels is None or (anchors is not None and channels >= anchors):
        return "expected [B, 4 + nc + 1, N] with static channels fewer than the anchors"
    if (classes is not None and channels != 5 + classes) or channels < 6:
        count = "nc >= 1" if classes is None else str(classes)
        return f"{channels} channels do not hold 4 box values, {count} classes and an angle"
    return None
