"""One camera's analysis: motion → (detector, only when something moves or a track is alive) → tracker → rules.
The detector is passed in (it is shared by every camera); the frame's time comes from the caller."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import supervision as sv
from trackers import ByteTrackTracker

from wangge.detectors.video.boxes import DetectionFilter, Frame
from wangge.detectors.video.motion import MotionDetector, MotionSettings
from wangge.detectors.video.rules import MOTION, CrowdRule, TrackedObject, VideoEvent, VideoRule

DetectFn = Callable[[Frame], sv.Detections]
TRACKER_BUFFER_FPS = 30.0  # the frame rate the trackers package expresses `lost_track_buffer` in


@dataclass
class AnalyzerStats:
    frames: int = 0
    inferences: int = 0
    region_inferences: int = 0  # of which on a region smaller than the frame
    skipped_by_motion: int = 0


@dataclass
class FrameResult:
    at: float
    objects: list[TrackedObject]
    events: list[VideoEvent]
    motion: list[tuple[float, float, float, float]]
    inferred: bool


@dataclass
class CameraAnalyzer:
    labels: list[str]
    rules: list[VideoRule]
    fps: float = 5.0
    classes: frozenset[str] = frozenset({"person", "car", "truck", "bus", "motorcycle", "bicycle"})
    motion_gating: bool = True
    regions: bool = True  # detect only around motion and live tracks, not on the whole frame
    min_region: int = 416  # pixels a side at least; a region goes in at its own pixels, finer than a whole frame
    full_frame_share: float = 0.6
    motion: MotionDetector = field(default_factory=lambda: MotionDetector(MotionSettings()))
    filter: DetectionFilter = field(default_factory=DetectionFilter)
    lost_track_s: float = 4.0  # how long a track unseen (occluded, missed) keeps its identity
    count_min_score: float = 0.5  # an untracked detection this confident still counts in a crowd
    stats: AnalyzerStats = field(default_factory=AnalyzerStats)

    def __post_init__(self) -> None:
        self.tracker = ByteTrackTracker(
            # The trackers package counts this buffer in frames at 30 fps whatever `frame_rate` is (and as
            # lost_track_buffer / 30 seconds when frames carry timestamps): lost_track_s × fps here kept a lost
            # track only 0.8 s instead of 4 at 5 fps.
            lost_track_buffer=max(1, round(self.lost_track_s * TRACKER_BUFFER_FPS)),
            frame_rate=self.fps,
            # Measured on PETS S2L1 at 5 fps with TrackEval (bench/video_accuracy.py, file source): new tracks
            # only from confident detections cut the false tracks low-score boxes started (against 0.5 / 0.5:
            # DetA 0.53 → 0.61, MOTA 0.61 → 0.79, IDF1 0.57 → 0.66, alert precision 0.89 → 0.92). Three frames
            # to confirm scored IDF1 0.67 but missed crossings by people who appear near the line.
            track_activation_threshold=0.8,
            minimum_consecutive_frames=2,
            high_conf_det_threshold=0.7,
            # A track found again after a miss is matched to a box overlapping its prediction by IoU ≥ 0.05, not
            # the package's 0.1: the prediction of someone who turned or set off while unseen has not followed
            # them, and at 0.1 the box was refused and the person given a new track, or another's. On S2L1 at 576 × 448,
            # the file and five RTSP decodes: AssA 0.52-0.61 → 0.60-0.62, HOTA 0.57-0.62 → 0.615-0.625; 0.01 to
            # 0.05 scored alike, and 0 (any pair at all) broke tracking.
            minimum_iou_threshold=0.05,
        )
        self._wanted = np.array([label in self.classes for label in self.labels])
        self._live_tracks = 0
        self._live_boxes: list[tuple[float, float, float, float]] = []
        self._last_at: float | None = None

    def region(self, moving: list[tuple[float, float, float, float]], w: int, h: int) -> tuple[int, int, int, int]:
        """Where to run the detector (pixels): around what moves and the live tracks, grown by a margin and to at
        least `min_region` pixels a side (the model sees a small region at a higher resolution); the whole frame
        when that would cover most of it anyway."""
        boxes = moving + self._live_boxes
        if not boxes:  # gating off and nothing moving: the whole frame
            return 0, 0, w, h
        x1, y1 = min(b[0] for b in boxes) * w, min(b[1] for b in boxes) * h
        x2, y2 = max(b[2] for b in boxes) * w, max(b[3] for b in boxes) * h
        margin = 0.1 * max(x2 - x1, y2 - y1) + 16
        x1, y1, x2, y2 = x1 - margin, y1 - margin, x2 + margin, y2 + margin
        side = min(max(x2 - x1, y2 - y1, self.min_region), w, h)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        half_w, half_h = max(x2 - x1, side) / 2, max(y2 - y1, side) / 2
        rx1, ry1 = int(max(0, min(cx - half_w, w - 2 * half_w))), int(max(0, min(cy - half_h, h - 2 * half_h)))
        rx2, ry2 = int(min(w, rx1 + 2 * half_w)), int(min(h, ry1 + 2 * half_h))
        if (rx2 - rx1) * (ry2 - ry1) > self.full_frame_share * w * h:
            return 0, 0, w, h
        return rx1, ry1, rx2, ry2

    def process(self, frame: Frame, at: float, detect: DetectFn) -> FrameResult:
        self.stats.frames += 1
        moving = self.motion.detect(frame)
        if self.motion_gating and not moving and self._live_tracks == 0:
            self.stats.skipped_by_motion += 1
            return FrameResult(at, [], self._observe(at, []), moving, False)
        h, w = frame.shape[:2]
        left, top, right, bottom = self.region(moving, w, h) if self.regions else (0, 0, w, h)
        if (left, top, right, bottom) == (0, 0, w, h):
            detections = detect(frame)
        else:
            self.stats.region_inferences += 1
            detections = detect(frame[top:bottom, left:right])
            if len(detections):
                detections.xyxy = detections.xyxy + np.array([left, top, left, top], dtype=detections.xyxy.dtype)
        self.stats.inferences += 1
        if len(detections):
            assert detections.class_id is not None
            wanted = detections[self._wanted[detections.class_id]]
            assert isinstance(wanted, sv.Detections)
            detections = self.filter.apply(wanted, w, h)
        # Each frame's time goes to the tracker (a late or dropped frame is a longer step), except after the clock
        # stepped back: the tracker would skip every frame until time caught up, so that one frame goes without a
        # time, which starts the tracker's timing afresh.
        stamp = at if self._last_at is None or at > self._last_at else None
        self._last_at = at
        tracked = self.tracker.update(detections, timestamp=stamp)
        objects: list[TrackedObject] = []
        untracked: list[TrackedObject] = []
        if tracked.tracker_id is not None:
            assert tracked.class_id is not None and tracked.confidence is not None
            for box, track, cls, score in zip(
                tracked.xyxy, tracked.tracker_id, tracked.class_id, tracked.confidence, strict=True
            ):
                x1, y1, x2, y2 = (float(v) for v in box)
                label, normalised = self.labels[int(cls)], (x1 / w, y1 / h, x2 / w, y2 / h)
                if track >= 0:
                    objects.append(TrackedObject(int(track), label, normalised, float(score)))
                elif score >= self.count_min_score:  # not confirmed yet: no identity, but a person all the same
                    untracked.append(TrackedObject(-1 - len(untracked), label, normalised, float(score)))
        self._live_tracks = len(objects)
        self._live_boxes = [o.box for o in objects]
        return FrameResult(at, objects, self._observe(at, objects, untracked), moving, True)

    def process_motion_only(self, frame: Frame, at: float) -> FrameResult:
        """With the detector failing: moving regions stand in for objects, so zone alerts still come."""
        self.stats.frames += 1
        moving = self.motion.detect(frame)
        objects = [TrackedObject(-1 - i, MOTION, box, 0.0) for i, box in enumerate(moving)]
        return FrameResult(at, objects, self._observe(at, objects), moving, False)

    def _observe(
        self, at: float, objects: list[TrackedObject], untracked: list[TrackedObject] | None = None
    ) -> list[VideoEvent]:
        """Every rule sees the confirmed tracks; a crowd rule, which counts and follows no one, also the detections
        the tracker has not confirmed (a track starts only from a detection scoring ≥ 0.8, and in a crowd people
        half hidden behind each other score less: on PETS S2L1 the crowds were counted one or two short)."""
        events = []
        counted = objects + untracked if untracked else objects
        for rule in self.rules:
            events.extend(rule.observe(at, counted if isinstance(rule, CrowdRule) else objects))
        return events
