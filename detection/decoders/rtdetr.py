"""Decoders of Ultralytics' RT-DETR exports: queries already selected, so no NMS.

The rules are Ultralytics 8.4.190's, read in its source:

- ``RTDETRDecoder.postprocess`` (nn/modules/head.py) ends the exported graph: a top-k
  (k = min(300 queries, export ``max_det``)) over the flattened (query x class) sigmoid scores,
  so one query may come back once per class; each row is ``cx, cy, w, h, score, class`` with the
  box normalised to 0..1 of the network input, rows sorted by score, best first.
- ``RTDETRPredictor.postprocess`` (models/rtdetr/predict.py) keeps the model's order, keeps
  ``score > conf`` (strict), then the ``classes`` filter, then the first ``max_det`` rows; no NMS.
  Boxes: ``xywh2xyxy`` of the normalised box, x times the original width, y times the original
  height: right only because ``RTDETRPredictor.scale_fill`` makes ``BasePredictor.pre_transform``
  stretch the image to the input size (``LetterBox(scale_fill=True)``, cv2 INTER_LINEAR, no
  padding). Here boxes go to input pixels and the recorded ``Transform`` maps them back, which
  is the same for a stretch (to float32 rounding) and stays right under any other resize.
  Ultralytics does not clip these boxes to the image (``Results`` is built without
  ``clip_boxes``); ``Transform.boxes_to_image`` clips them, as for every layout.
- Exports before the top-k moved into the head (Ultralytics PR 24403: 8.4.0 has the old form,
  8.4.60 the new) end with ``[B, 300, 4 + nc]``: the normalised box and every class's sigmoid score per
  query. Their ``RTDETRPredictor.postprocess`` takes each query's best class (``max(-1)``, the
  first on ties), keeps ``score > conf`` and the classes asked for, sorts by score (best first)
  and keeps ``max_det``.

Only exports with the top-k form carry the ``head`` metadata key (``RTDETRDecoder``), so layout
detection finds ``rtdetr``; the older form is chosen in model.toml (``rtdetr-scores``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from detection.boxes import box_convert
from detection.candidates import Candidates, LayoutParams
from detection.decoders.yolo import _single
from detection.errors import LayoutError

Outputs = Sequence[NDArray[Any]]
Float32Array = NDArray[np.float32]

__all__ = ["decode_rtdetr", "decode_rtdetr_scores"]


def decode_rtdetr(outputs: Outputs, params: LayoutParams) -> list[Candidates]:
    """``[B, K, 6]`` rows cx cy w h (0..1 of the input) score class, already ranked by the model.

    Rows stay in the model's order (best first); boxes become xyxy in input pixels.
    """
    output = _single(outputs, "rtdetr", rank=3)
    if output.shape[2] != 6:
        raise LayoutError(
            f"rtdetr: rows must be cx cy w h score class (Ultralytics' top-k RT-DETR head), got "
            f"{output.shape}; an older export of 4 + nc values per query is 'rtdetr-scores'"
        )
    boxes = _input_pixels(output[..., :4], params.input_hw)
    confidence = np.ascontiguousarray(output[..., 4])
    class_id = np.rint(output[..., 5]).astype(np.int64)
    return [
        Candidates(boxes[b], confidence=confidence[b], class_id=class_id[b], clip=False)
        for b in range(output.shape[0])
    ]


def decode_rtdetr_scores(outputs: Outputs, params: LayoutParams) -> list[Candidates]:
    """``[B, Q, 4 + nc]`` per query: cx cy w h (0..1 of the input), then nc sigmoid class scores.

    Each query keeps its best class (the first on ties); queries are sorted by that score, best
    first, ties in query order, as the older ``RTDETRPredictor`` ranked them.
    """
    output = _single(outputs, "rtdetr-scores", rank=3)
    classes = output.shape[2] - 4
    if classes <= 0 or (params.num_classes is not None and params.num_classes != classes):
        expected = params.num_classes if params.num_classes is not None else "nc >= 1"
        raise LayoutError(
            f"rtdetr-scores: rows of {output.shape[2]} values do not hold cx cy w h and "
            f"{expected} class scores (output shape {output.shape})"
        )
    scores = output[..., 4:]
    class_id = scores.argmax(axis=-1)
    confidence = np.take_along_axis(scores, class_id[..., None], axis=-1)[..., 0]
    order = np.argsort(-confidence, axis=-1, kind="stable")
    boxes = _input_pixels(output[..., :4], params.input_hw)
    return [
        Candidates(
            boxes[b][order[b]],
            confidence=confidence[b][order[b]],
            class_id=class_id[b][order[b]].astype(np.int64),
            clip=False,
        )
        for b in range(output.shape[0])
    ]


def _input_pixels(normalised: Float32Array, input_hw: tuple[int, int]) -> Float32Array:
    """(B, K, 4) cxcywh in 0..1 of the input to xyxy input pixels: convert, then scale.

    Ultralytics' order (``xywh2xyxy``, then times the size), so the corners round alike.
    """
    height, width = input_hw
    scale = np.array([width, height, width, height], dtype=np.float32)
    corners = box_convert(normalised.reshape(-1, 4), "cxcywh", "xyxy") * scale
    return corners.reshape(normalised.shape)
