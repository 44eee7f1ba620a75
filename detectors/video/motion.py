"""Motion first (Frigate's approach): a running-average background of a small grey frame, the pixels that differ,
minus the masked areas (trees, timestamp overlays), grown into boxes. Cheap enough to run on every frame, so the
detector only runs when something moves or a track is alive."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from wangge.detectors.video.boxes import Frame

Polygon = list[tuple[float, float]]


@dataclass
class MotionSettings:
    height: int = 120  # rows of the downscaled grey frame
    threshold: int = 25  # grey-level difference that counts as changed
    min_area: float = 0.0005  # a box smaller than this share of the frame is noise
    alpha: float = 0.05  # how fast the background follows the scene
    lighting_share: float = 0.5  # more than this share changed at once is a lighting change, not motion
    masks: list[Polygon] = field(default_factory=list)  # 0-1 polygons to ignore


def small_grey(frame: Frame, rows: int) -> npt.NDArray[Any]:
    """The frame shrunk by a power of two to about `rows` lines, in grey. OpenCV's area resize is several times
    faster for such a factor than for any other, and converting to grey first gives it one channel to average
    instead of three (the same picture to a grey level: both steps are weighted means); together 0.5 ms instead
    of 1.0 ms of CPU for 768x576 on machine A, on every analysed frame of every camera."""
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    h, w = grey.shape[:2]
    k = 2 ** max(0, round(math.log2(max(h / rows, 1.0))))
    if k == 1:
        return grey
    cropped = grey[: h - h % k, : w - w % k]
    return cv2.resize(cropped, (cropped.shape[1] // k, cropped.shape[0] // k), interpolation=cv2.INTER_AREA)


class MotionDetector:
    def __init__(self, settings: MotionSettings | None = None) -> None:
        self.settings = settings or MotionSettings()
        self._background: npt.NDArray[Any] | None = None
        self._mask: npt.NDArray[Any] | None = None
        self._shape: tuple[int, int] | None = None
        self.last_grey: npt.NDArray[Any] | None = None  # the small grey frame, for the tamper check to reuse

    def _small(self, frame: Frame) -> npt.NDArray[Any]:
        self.last_grey = small_grey(frame, self.settings.height)
        return cv2.GaussianBlur(self.last_grey, (5, 5), 0)

    def _build_mask(self, shape: tuple[int, int]) -> npt.NDArray[Any]:
        mask = np.full(shape, 255, dtype=np.uint8)
        h, w = shape
        for polygon in self.settings.masks:
            points = np.array([[round(x * w), round(y * h)] for x, y in polygon], dtype=np.int32)
            cv2.fillPoly(mask, [points], 0)
        return mask

    def reset(self) -> None:
        self._background = None

    def detect(self, frame: Frame) -> list[tuple[float, float, float, float]]:
        """Boxes (x1, y1, x2, y2, in 0-1 of the frame) where the scene moved since the background."""
        grey = self._small(frame)
        if self._background is None or self._shape != grey.shape:
            self._background = grey.astype(np.float32)
            self._shape = grey.shape
            self._mask = self._build_mask(grey.shape)
            return []
        assert self._mask is not None
        diff = cv2.absdiff(grey, cv2.convertScaleAbs(self._background))
        _, changed = cv2.threshold(diff, self.settings.threshold, 255, cv2.THRESH_BINARY)
        changed = cv2.bitwise_and(changed, self._mask)
        share = float(np.count_nonzero(changed)) / changed.size
        if share > self.settings.lighting_share:
            # The whole view changed at once (lights, a cloud, auto exposure): learn it, report nothing.
            self._background = grey.astype(np.float32)
            return []
        cv2.accumulateWeighted(grey, self._background, self.settings.alpha)
        changed = cv2.dilate(changed, np.ones((3, 3), np.uint8), iterations=2)
        contours, _ = cv2.findContours(changed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        h, w = grey.shape
        boxes = []
        for contour in contours:
            x, y, bw, bh = cv2.boundingRect(contour)
            if bw * bh / (w * h) >= self.settings.min_area:
                boxes.append((x / w, y / h, (x + bw) / w, (y + bh) / h))
        return boxes
