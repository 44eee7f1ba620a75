"""Camera tamper: the view covered, badly defocused, or moved, judged against a reference learnt from the camera's
own normal frames. A condition must last `min_duration_s` to raise the alert and be gone `clear_after_s` to end it.
The reference follows slow changes (daylight) only while the view is normal, so a tampered view is never learnt."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt

from wangge.detectors.video.boxes import Frame
from wangge.detectors.video.motion import small_grey
from wangge.detectors.video.rules import VideoEvent

Reason = Literal["covered", "defocused", "moved"]
RULE_ID = "camera_tamper"


@dataclass
class TamperSettings:
    min_duration_s: float = 10.0
    clear_after_s: float = 5.0
    learn_frames: int = 10  # frames averaged before judging
    covered_std: float = 12.0  # grey-level spread below this: a hand, a bag, paint, a lens cap
    defocus_share: float = 0.3  # sharpness (Laplacian variance) below this share of the reference
    moved_similarity: float = 0.5  # edge-map correlation with the reference below this: the view moved
    alpha: float = 0.02


@dataclass
class TamperDetector:
    settings: TamperSettings = field(default_factory=TamperSettings)
    _reference: npt.NDArray[Any] | None = field(default=None, init=False)
    _sharpness: float = field(default=0.0, init=False)
    _learnt: int = field(default=0, init=False)
    _since: float | None = field(default=None, init=False)
    _normal_since: float | None = field(default=None, init=False)
    _active: Reason | None = field(default=None, init=False)
    last_reason: Reason | None = field(default=None, init=False)

    @staticmethod
    def _small(frame: Frame) -> npt.NDArray[Any]:
        return small_grey(frame, 120).astype(np.float32)

    @staticmethod
    def _edges(grey: npt.NDArray[Any]) -> npt.NDArray[Any]:
        gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
        magnitude = cv2.magnitude(gx, gy)
        return np.asarray(magnitude - magnitude.mean())

    def judge(self, frame: Frame | None, grey: npt.NDArray[Any] | None = None) -> Reason | None:
        """What is wrong with this frame (or its small grey copy, when the motion check already made one) against
        the reference, if anything; also learns the reference."""
        if grey is None:
            assert frame is not None
            grey = self._small(frame)
        else:
            grey = grey.astype(np.float32)
        if self._reference is not None and grey.shape != self._reference.shape:
            self._reference, self._learnt = None, 0  # the stream's resolution changed: learn the view again
        sharpness = float(cv2.Laplacian(grey, cv2.CV_32F).var())
        if float(grey.std()) < self.settings.covered_std:
            return "covered"
        if self._reference is None or self._learnt < self.settings.learn_frames:
            self._reference = (
                grey if self._reference is None else (self._reference * self._learnt + grey) / (self._learnt + 1)
            )
            self._sharpness = (self._sharpness * self._learnt + sharpness) / (self._learnt + 1)
            self._learnt += 1
            return None
        if sharpness < self.settings.defocus_share * self._sharpness:
            return "defocused"
        a, b = self._edges(self._reference), self._edges(grey)
        similarity = float((a * b).sum() / (np.sqrt((a * a).sum() * (b * b).sum()) or 1.0))
        if similarity < self.settings.moved_similarity:
            return "moved"
        alpha = self.settings.alpha
        self._reference = self._reference * (1 - alpha) + grey * alpha
        self._sharpness = self._sharpness * (1 - alpha) + sharpness * alpha
        return None

    def observe(self, at: float, frame: Frame | None, grey: npt.NDArray[Any] | None = None) -> list[VideoEvent]:
        reason = self.judge(frame, grey)
        self.last_reason = reason
        if reason is not None:
            self._normal_since = None
            self._since = self._since if self._since is not None else at
            if self._active is None and at - self._since >= self.settings.min_duration_s:
                self._active = reason
                return [VideoEvent(RULE_ID, "start", at, (), (), 1.0, (), {"reason": reason})]
            return []
        self._since = None
        if self._active is not None:
            self._normal_since = self._normal_since if self._normal_since is not None else at
            if at - self._normal_since >= self.settings.clear_after_s:
                reason_was, self._active = self._active, None
                return [VideoEvent(RULE_ID, "end", at, (), (), 0.0, (), {"reason": reason_was})]
        return []
