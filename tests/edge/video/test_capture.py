"""The capture thread against a stream that changes resolution, sends a broken frame, drops and comes back, or
never opens: the newest frame wins, the camera's health says what happened, and analysis follows the new size."""

from __future__ import annotations

import time
from typing import Any

import cv2
import numpy as np

from tests.support import wait_until
from wangge.detectors.video.motion import MotionDetector
from wangge.detectors.video.tamper import TamperDetector
from wangge.edge.video.capture import CameraCapture


class FakeStream:
    """What cv2.VideoCapture gives: frames at the camera's pace (grab decodes, retrieve hands the image), then a
    failed grab when the stream breaks."""

    def __init__(self, sizes: list[tuple[int, int]], fps: float = 50.0) -> None:
        self.sizes = list(sizes)
        self.interval = 1 / fps
        self.grabbed = (0, 0)
        self.grabs = self.retrieved = 0

    def isOpened(self) -> bool:
        return True

    def grab(self) -> bool:
        time.sleep(self.interval)
        if not self.sizes:
            return False
        self.grabbed = self.sizes.pop(0)
        self.grabs += 1
        return True

    def retrieve(self) -> tuple[bool, Any]:
        w, h = self.grabbed
        self.retrieved += 1
        return True, np.full((h, w, 3), 100, dtype=np.uint8)

    def release(self) -> None:
        pass


class Closed(FakeStream):
    def isOpened(self) -> bool:
        return False


def test_resolution_change_drop_and_reconnect() -> None:
    streams = [FakeStream([(640, 360)] * 20 + [(1280, 720)] * 20), Closed([]), FakeStream([(1280, 720)] * 500)]
    opened: list[str] = []

    def opener(url: str, timeout: float) -> Any:
        opened.append(url)
        return streams.pop(0) if streams else Closed([])

    capture = CameraCapture("cam", "rtsp://user:secret@10.1.1.1/s", fps=50.0, backoff_s=(0.05, 0.2), opener=opener)
    capture.start()
    try:
        seen: list[tuple[int, int]] = []

        def newest() -> bool:
            item = capture.latest(0 if not seen else seq[0], 0.2)
            if item is not None:
                seq[0] = item[0]
                seen.append(item[1].shape[:2])
            return (720, 1280) in seen and capture.reconnects >= 2 and len(seen) > 30

        seq = [0]
        wait_until(newest, 10, "frames after the resolution change and the reconnects")
        assert seen[0] == (360, 640)
        health = capture.health(offline_after_s=1.0)
        assert health.state == "online" and (health.width, health.height) == (1280, 720)
        assert len(opened) >= 3 and health.reconnects >= 2
    finally:
        capture.stop()


def test_a_camera_that_never_opens_is_offline_with_its_error_and_no_password() -> None:
    capture = CameraCapture(
        "cam", "rtsp://admin:hunter2@10.1.1.1/s", backoff_s=(0.05, 0.1), opener=lambda url, t: Closed([])
    )
    capture.start()
    try:
        time.sleep(0.4)
        health = capture.health(offline_after_s=0.2)
        assert health.state == "offline" and health.frames == 0
        assert health.error == "cannot open rtsp://***@10.1.1.1/s" and "hunter2" not in str(health)
    finally:
        capture.stop()


def test_only_the_newest_frame_is_kept_and_the_rest_count_as_skipped() -> None:
    capture = CameraCapture("cam", "x", fps=50.0, opener=lambda url, t: FakeStream([(64, 48)] * 40, fps=100.0))
    capture.start()
    time.sleep(0.6)  # nobody takes frames meanwhile
    item = capture.latest(0, 0.1)
    capture.stop()
    assert item is not None and item[0] >= 20  # the newest, not the first
    assert capture.skipped >= item[0] - 1


def test_analysis_follows_a_new_resolution() -> None:
    motion, tamper = MotionDetector(), TamperDetector()
    small = np.zeros((360, 640, 3), dtype=np.uint8)
    small[:] = np.linspace(30, 220, 640, dtype=np.uint8)[None, :, None]  # a lit wall
    for x in range(40, 600, 90):
        small[100:300, x : x + 40] = (40, 60, 200)  # pillars
    big = cv2.resize(small, (1280, 720))  # the same view, streamed at a higher resolution
    for _ in range(12):
        motion.detect(small)
        tamper.judge(small)
    assert motion.detect(big) == []  # a new background, not "everything moved"
    assert tamper.judge(big) is None  # a new reference is learnt, not "the camera moved"


def test_every_frame_is_decoded_but_only_the_ones_due_are_converted() -> None:
    """A 100 fps stream analysed at 20 fps: every frame grabbed (and counted), about one in five retrieved."""
    stream = FakeStream([(64, 48)] * 60, fps=100.0)
    capture = CameraCapture("cam", "x", fps=20.0, opener=lambda url, t: stream)
    capture.start()
    try:
        wait_until(lambda: stream.grabs == 60, 10, "the stream read to its end")
    finally:
        capture.stop()
    assert capture.frames == 60
    assert 6 <= stream.retrieved <= 20, stream.retrieved  # 0.6 s at 20 fps is 12; never all 60
