"""Turn raw detector output into boxes in source-image pixels. Two layouts cover the models we can run:

- YOLOX (`[1, N, 5 + C]`): raw x, y, w, h per anchor point, objectness and class scores (already sigmoid);
  the grid and strides are rebuilt here, as YOLOX's own demo does.
- YOLOv8 / YOLO11 (`[1, 4 + C, N]`): centre x, y, w, h in input pixels and class scores, no objectness.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
import supervision as sv

from wangge.detectors.video.boxes import Floats, Letterbox, nms


@cache
def _yolox_grid(width: int, height: int, strides: tuple[int, ...]) -> tuple[Floats, Floats]:
    grids, expanded = [], []
    for stride in strides:
        gw, gh = width // stride, height // stride
        xs, ys = np.meshgrid(np.arange(gw), np.arange(gh))
        grids.append(np.stack((xs, ys), axis=2).reshape(-1, 2))
        expanded.append(np.full((gw * gh, 1), stride))
    return np.concatenate(grids).astype(np.float32), np.concatenate(expanded).astype(np.float32)


def _boxes(
    xyxy: Floats, scores: Floats, class_ids: npt.NDArray[Any], box: Letterbox, min_score: float, iou: float
) -> sv.Detections:
    keep = scores >= min_score
    xyxy, scores, class_ids = xyxy[keep], scores[keep], class_ids[keep]
    chosen = nms(xyxy, scores, class_ids, iou)
    return sv.Detections(
        xyxy=box.to_source(xyxy[chosen]).reshape(-1, 4),
        confidence=scores[chosen].astype(np.float32),
        class_id=class_ids[chosen].astype(int),
    )


def decode_yolox(
    output: Floats,
    box: Letterbox,
    input_w: int,
    input_h: int,
    min_score: float = 0.25,
    iou: float = 0.45,
    strides: tuple[int, ...] = (8, 16, 32),
) -> sv.Detections:
    rows = output.reshape(-1, output.shape[-1])
    grid, stride = _yolox_grid(input_w, input_h, strides)
    if len(rows) != len(grid):
        expected = f"{input_w}x{input_h} with strides {strides} gives {len(grid)}"
        raise ValueError(f"YOLOX output has {len(rows)} rows; {expected}")
    # A score is objectness × a class score, both sigmoid outputs (≤ 1): a row whose objectness is below
    # min_score cannot reach it, and that is nearly every row (5,292 at 576 × 448, a handful of people), so the
    # rest of the work is done on the candidates only.
    candidates = np.flatnonzero(rows[:, 4] >= min_score)
    rows, grid, stride = rows[candidates], grid[candidates], stride[candidates]
    centre = (rows[:, :2] + grid) * stride
    size = np.exp(np.minimum(rows[:, 2:4], 20.0)) * stride
    class_scores = rows[:, 5:] * rows[:, 4:5]
    class_ids = class_scores.argmax(axis=1)
    scores = class_scores[np.arange(len(rows)), class_ids]
    xyxy = np.concatenate((centre - size / 2, centre + size / 2), axis=1)
    return _boxes(xyxy, scores, class_ids, box, min_score, iou)


def decode_yolov8(
    output: Floats, box: Letterbox, input_w: int, input_h: int, min_score: float = 0.25, iou: float = 0.45
) -> sv.Detections:
    rows = output.reshape(output.shape[-2], output.shape[-1]).T  # [N, 4 + C]
    class_scores = rows[:, 4:]
    class_ids = class_scores.argmax(axis=1)
    scores = class_scores[np.arange(len(rows)), class_ids]
    centre, size = rows[:, :2], rows[:, 2:4]
    xyxy = np.concatenate((centre - size / 2, centre + size / 2), axis=1)
    return _boxes(xyxy, scores, class_ids, box, min_score, iou)


Decoder = Callable[..., sv.Detections]
DECODERS: dict[str, Decoder] = {"yolox": decode_yolox, "yolov8": decode_yolov8}
