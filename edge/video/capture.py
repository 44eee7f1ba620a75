"""One reader thread per camera (OpenCV's FFmpeg backend): it decodes every frame so the stream stays live, keeps
only the newest (never a backlog), reconnects with capped exponential backoff, and says how the camera is doing."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import cv2

from wangge.detectors.video.boxes import Frame

log = logging.getLogger(__name__)

# RTSP over TCP: over UDP a lossy network gives grey smeared frames instead of a clean gap.
os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")

CameraState = Literal["online", "degraded", "offline"]


class RateWindow:
    """Events per second over the last `span_s` seconds (decoded frames, analysed frames)."""

    def __init__(self, span_s: float = 2.0) -> None:
        self.span_s = span_s
        self._times: list[float] = []

    def add(self, now: float) -> None:
        self._times = [t for t in self._times if now - t <= self.span_s] + [now]

    def rate(self, now: float) -> float:
        return len([t for t in self._times if now - t <= self.span_s]) / self.span_s


@dataclass(frozen=True)
class CameraHealth:
    state: CameraState
    input_fps: float
    last_frame_age_s: float | None
    reconnects: int
    frames: int
    skipped: int
    error: str | None
    width: int | None
    height: int | None


def open_stream(url: str, timeout_s: float) -> Any:
    ms = int(timeout_s * 1000)
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
    return cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)


class CameraCapture:
    def __init__(
        self,
        camera_id: str,
        url: str,
        size: tuple[int, int] | None = None,
        fps: float = 5.0,
        timeout_s: float = 5.0,
        backoff_s: tuple[float, float] = (1.0, 30.0),
        clock: Callable[[], float] = time.monotonic,
        opener: Callable[[str, float], Any] = open_stream,
        realtime: bool = False,
    ) -> None:
        self.camera_id = camera_id
        # A recorded file replayed as a camera sends it: at its own frame rate, looped (the demo's camera).
        self.realtime = realtime
        self.url = url
        self.size = size
        self.interval = 1.0 / fps
        self.timeout_s = timeout_s
        self.backoff_s = backoff_s
        self._clock = clock
        self._opener = opener
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._frame: Frame | None = None
        self._seq = 0
        self._taken = 0
        self._last_at: float | None = None  # when the newest offered frame arrived
        self._last_decoded: float | None = None
        self._started: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"capture-{camera_id}", daemon=True)
        self._rate = RateWindow()
        self.reconnects = 0
        self.frames = 0
        self.skipped = 0
        self.error: str | None = None
        self.source_size: tuple[int, int] | None = None
        self.degraded = False  # set by the pipeline when analysis falls back

    def start(self) -> None:
        self._started = self._clock()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._changed:
            self._changed.notify_all()
        self._thread.join(self.timeout_s + 5)

    def latest(self, after: int, wait_s: float) -> tuple[int, Frame, float] | None:
        """The newest frame newer than sequence `after` (waiting up to `wait_s`), with its arrival time."""
        with self._changed:
            if self._seq <= after:
                self._changed.wait(wait_s)
            if self._seq <= after or self._frame is None or self._last_at is None:
                return None
            self._taken = self._seq
            return self._seq, self._frame, self._last_at

    def health(self, offline_after_s: float) -> CameraHealth:
        now = self._clock()
        with self._lock:
            age = None if self._last_decoded is None else now - self._last_decoded
            # A camera that never sent a frame is offline once it has had `offline_after_s` to do so.
            waited = None if self._started is None else now - self._started
            fps = self._rate.rate(now)
        if (age is None and (waited is None or waited > offline_after_s)) or (
            age is not None and age > offline_after_s
        ):
            state: CameraState = "offline"
        elif age is None:
            state = "online" if not self.degraded else "degraded"
        else:
            state = "degraded" if self.degraded else "online"
        width, height = self.source_size or (None, None)
        return CameraHealth(state, fps, age, self.reconnects, self.frames, self.skipped, self.error, width, height)

    def _run(self) -> None:
        delay = self.backoff_s[0]
        while not self._stop.is_set():
            capture = self._opener(self.url, self.timeout_s)
            if not capture.isOpened():
                self.error = f"cannot open {self._redacted()}"
                log.warning("camera %s: %s; retrying in %.0fs", self.camera_id, self.error, delay)
            else:
                log.info("camera %s: connected to %s", self.camera_id, self._redacted())
                delay = self.backoff_s[0]
                if self._read(capture):
                    capture.release()
                    continue  # the replayed file ended: from its start again, as a looping camera
            capture.release()
            if self._stop.wait(delay):
                return
            delay = min(delay * 2, self.backoff_s[1])
            self.reconnects += 1

    def _read(self, capture: Any) -> bool:
        """Frames until the stream stops; True when a replayed file reached its end (loop it). Every frame is
        decoded (`grab`: H.264 frames depend on each other), only the ones due for analysis are converted to
        BGR (`retrieve`): a 25 fps camera analysed at 5 fps spends no conversion on the other 20 a second."""
        began = self._clock()
        while not self._stop.is_set():
            if not capture.grab():
                return self._ended()
            if self.realtime:
                due_at = began + float(capture.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0
                if due_at > self._clock():
                    self._stop.wait(due_at - self._clock())
            now = self._clock()
            with self._lock:
                self._rate.add(now)
                self._last_decoded = now
                self.frames += 1
                self.error = None
                due = self._last_at is None or now - self._last_at >= self.interval * 0.9
            if not due:
                continue  # decoded to keep the stream live, but faster than the detect rate: not offered
            ok, frame = capture.retrieve()
            if not ok or frame is None:
                return self._ended()
            h, w = frame.shape[:2]
            if self.source_size not in (None, (w, h)):
                log.info("camera %s: resolution changed %s → %dx%d", self.camera_id, self.source_size, w, h)
            self.source_size = (w, h)
            if self.size is not None and (w, h) != self.size:
                frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
            with self._changed:
                if self._seq > self._taken:
                    self.skipped += 1  # the previous frame was never analysed: the newest one wins
                self._frame, self._last_at = frame, now
                self._seq += 1
                self._changed.notify_all()
        return False

    def _ended(self) -> bool:
        """A read that failed: the end of a replayed file (loop it), else a stream that stopped."""
        if self.realtime and self.frames:
            return True
        self.error = "the stream stopped sending frames"
        log.warning("camera %s: %s", self.camera_id, self.error)
        return False

    def _redacted(self) -> str:
        """The URL without its password, for logs."""
        if "@" not in self.url:
            return self.url
        scheme, _, rest = self.url.partition("://")
        return f"{scheme}://***@{rest.rpartition('@')[2]}"
