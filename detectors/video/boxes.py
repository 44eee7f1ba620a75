"""Letterbox geometry, non-maximum suppression and per-class filters for detector output."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import supervision as sv

Frame = npt.NDArray[Any]  # H x W x 3, BGR uint8 as OpenCV decodes it
Floats = npt.NDArray[Any]


@dataclass(frozen=True)
class Letterbox:
    """One scale ratio for both axes, the image at the top-left, the rest padded (YOLOX's and Ultralytics' way
    when `centre` is False/True)."""

    ratio: float
    pad_x: float
    pad_y: float

    def to_source(self, xyxy: Floats) -> Floats:
        out = xyxy.astype(np.float32, copy=True)
        out[:, [0, 2]] = (out[:, [0, 2]] - self.pad_x) / self.ratio
        out[:, [1, 3]] = (out[:, [1, 3]] - self.pad_y) / self.ratio
        return out


def input_size(width: int, height: int, long_side: int, stride: int) -> tuple[int, int]:
    """The model input for a width × height image: its long side `long_side` (or the image's own, to the next
    stride, when that is smaller: a region cropped around motion goes in at its own pixels, not enlarged at the
    cost of more inference than the whole frame), the other side scaled with it and rounded up to the stride
    (Ultralytics' rectangular letterbox). A square input spends a quarter of itself on padding for a 4:3
    camera; here the pixels go to the picture. Integer arithmetic, so 768 × 576 at 576 is exactly 576 × 448,
    never one stride more from a rounding error."""
    longest = max(width, height)
    long_side = min(long_side, -(-longest // stride) * stride)
    scaled_w, scaled_h = -(-width * long_side // longest), -(-height * long_side // longest)
    return -(-scaled_w // stride) * stride, -(-scaled_h // stride) * stride


def letterbox(frame: Frame, width: int, height: int, centre: bool = False, fill: int = 114) -> tuple[Frame, Letterbox]:
    h, w = frame.shape[:2]
    ratio = min(width / w, height / h)
    new_w, new_h = max(1, round(w * ratio)), max(1, round(h * ratio))  # a sliver of a frame stays a pixel
    canvas = np.full((height, width, 3), fill, dtype=np.uint8)
    resized = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    x0 = (width - new_w) // 2 if centre else 0
    y0 = (height - new_h) // 2 if centre else 0
    canvas[y0 : y0 + new_h, x0 : x0 + new_w] = resized
    return canvas, Letterbox(ratio, float(x0), float(y0))


def nms(xyxy: Floats, scores: Floats, class_ids: npt.NDArray[Any], iou: float) -> npt.NDArray[np.int64]:
    """Indices kept by per-class NMS, best score first."""
    if len(scores) == 0:
        return np.zeros(0, dtype=np.int64)
    xywh = np.column_stack([xyxy[:, 0], xyxy[:, 1], xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]])
    keep = cv2.dnn.NMSBoxesBatched(xywh.tolist(), scores.tolist(), class_ids.tolist(), 0.0, iou)
    return np.asarray(keep, dtype=np.int64).reshape(-1)


@dataclass(frozen=True)
class ClassFilter:
    """What counts as an object of one class: a minimum score, an area range (fraction of the frame) and an
    aspect range (width / height), to drop a 'person' the size of a car or as flat as a bench."""

    min_score: float = 0.35
    min_area: float = 0.0
    max_area: float = 1.0
    min_aspect: float = 0.0
    max_aspect: float = float("inf")


@dataclass(frozen=True)
class DetectionFilter:
    classes: dict[int, ClassFilter] = field(default_factory=dict)
    default: ClassFilter | None = ClassFilter()

    def apply(self, detections: sv.Detections, frame_w: int, frame_h: int) -> sv.Detections:
        if len(detections) == 0:
            return detections
        keep = np.zeros(len(detections), dtype=bool)
        area = np.asarray(detections.box_area, dtype=np.float64) / float(frame_w * frame_h)
        widths = detections.xyxy[:, 2] - detections.xyxy[:, 0]
        heights = np.maximum(detections.xyxy[:, 3] - detections.xyxy[:, 1], 1e-6)
        aspect = widths / heights
        assert detections.class_id is not None and detections.confidence is not None
        for i, class_id in enumerate(detections.class_id):
            rule = self.classes.get(int(class_id), self.default)
            if rule is None:
                continue
            keep[i] = (
                detections.confidence[i] >= rule.min_score
                and rule.min_area <= area[i] <= rule.max_area
                and rule.min_aspect <= aspect[i] <= rule.max_aspect
            )
        kept = detections[keep]
        assert isinstance(kept, sv.Detections)
        return kept
